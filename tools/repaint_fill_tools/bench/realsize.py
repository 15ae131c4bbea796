"""Real-size benchmark: photos of 1024 px, holes at native scale, ours (native, coarse) vs OpenCV.

``python -m repaint_fill_tools.bench.realsize --photos DIR/val`` (or ``repaint-fill bench
--realsize-photos DIR/val``) fills a centred box (1/4 of the long side), an ellipse and five
36 px strokes in every photo, with ``detail=native`` and ``coarse`` and each preset asked for,
beside OpenCV's Telea and NS and the ground truth sent through the coarse working size. It
prints a table per mask (hole texture distance, sharpness, seconds; mean and spread over the
photos) and writes a picture sheet of the holes' surroundings.

The photos must never have trained or tuned the model; the Debian packages mate-backgrounds and
palapeli-data are reserved for independent evaluation and must not be used here.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from repaint_fill_backend.engine import Engine, FillRequest, model_geometry, run_plan
from repaint_fill_backend.fill_plan import (
    DEFAULT_REFINE_STRENGTH,
    NATIVE_FACTOR,
    plan_fill,
)
from repaint_fill_backend.imaging import composite, open_image, to_rgb8
from repaint_fill_backend.presets import PRESETS

from .metrics import score_fill
from .pictures import LABEL_HEIGHT, labelled_tile

LONG_SIDE = 1024
STROKE_WIDTH = 36
SHEET_TILE = 256


@dataclass(frozen=True)
class Case:
    photo: str
    mask: str
    truth: np.ndarray  # (H, W, 3) uint8
    coverage: np.ndarray  # (H, W) uint8, 255 = fill


@dataclass
class Row:
    method: str
    mask: str
    seconds: list[float] = field(default_factory=list)
    swd: list[float] = field(default_factory=list)
    swd_levels: list[tuple[float, ...]] = field(default_factory=list)  # per case, finest first
    sharpness: list[float] = field(default_factory=list)
    model_calls: list[int] = field(default_factory=list)
    fills: list[np.ndarray] = field(default_factory=list)


def photo_paths(folder: Path, limit: int) -> list[Path]:
    """The first ``limit`` photos (PNG or JPEG) of ``folder``, in name order."""
    suffixes = (".png", ".jpg", ".jpeg")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)[:limit]


def load_photo(path: Path, long_side: int = LONG_SIDE) -> np.ndarray:
    """A photo scaled so its long side is ``long_side`` (uint8 RGB)."""
    image = open_image(path)
    scale = long_side / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    return to_rgb8(image.convert("RGB").resize(size, Image.Resampling.LANCZOS))


def box_mask(height: int, width: int, seed: int) -> np.ndarray:
    """A centred square of a quarter of the long side."""
    del seed
    side = max(height, width) // 4
    coverage = np.zeros((height, width), np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    coverage[top : top + side, left : left + side] = 255
    return coverage


def ellipse_mask(height: int, width: int, seed: int) -> np.ndarray:
    """An ellipse of 400x220 at 1024 px, a little off centre."""
    rng = np.random.default_rng(seed)
    scale = max(height, width) / 1024
    rx, ry = 200 * scale, 110 * scale
    cx = width * rng.uniform(0.35, 0.65)
    cy = height * rng.uniform(0.35, 0.65)
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    return np.asarray(canvas).copy()


def strokes_mask(height: int, width: int, seed: int) -> np.ndarray:
    """Five random 36 px strokes (about 150 px long each) spread over the photo."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(5):
        x, y = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
        angle = rng.uniform(0, 2 * np.pi)
        end = (x + 150 * np.cos(angle), y + 150 * np.sin(angle))
        draw.line([(x, y), end], fill=255, width=STROKE_WIDTH)
        for cx, cy in ((x, y), end):
            r = STROKE_WIDTH / 2
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    return np.asarray(canvas).copy()


MASKS: dict[str, Callable[[int, int, int], np.ndarray]] = {
    "box": box_mask,
    "ellipse": ellipse_mask,
    "strokes": strokes_mask,
}


def make_cases(
    photos: Sequence[Path], masks: Sequence[str] = tuple(MASKS), long_side: int = LONG_SIDE
) -> list[Case]:
    cases = []
    for number, path in enumerate(photos):
        truth = load_photo(path, long_side)
        for mask in masks:
            make = MASKS[mask]
            cases.append(Case(path.stem, mask, truth, make(*truth.shape[:2], number)))
    return cases


def ours(
    engine: Engine,
    preset: str,
    detail: str,
    refine_strength: float = DEFAULT_REFINE_STRENGTH,
    native_factor: float = NATIVE_FACTOR,
    harmonize: bool = True,
    detail_match: bool = True,
) -> Callable[[Case, int], tuple[np.ndarray, int]]:
    """A fill method: the product's fill of the case (seeded), composited; the settings this
    benchmark and the paired one chose can be varied."""

    def fill(case: Case, seed: int) -> tuple[np.ndarray, int]:
        request = FillRequest(Image.fromarray(case.truth), case.coverage, PRESETS[preset],
                              seed=seed, context_margin=64, detail=detail,
                              refine_strength=refine_strength, harmonize=harmonize,
                              detail_match=detail_match)  # fmt: skip
        model = engine.model
        plan = plan_fill(case.coverage, model_geometry(model),
                         request.settings, detail=detail, context_margin=64,
                         refine_strength=refine_strength, native_factor=native_factor)  # fmt: skip
        result = run_plan(model, request, plan)
        filled, region = case.truth.copy(), result.crop.slices
        filled[region] = composite(case.truth[region], result.fills[0], case.coverage[region])
        return filled, int(result.report.model_calls)

    return fill


def opencv(flag_name: str) -> Callable[[Case, int], tuple[np.ndarray, int]]:
    import cv2

    flag = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[flag_name]

    def fill(case: Case, seed: int) -> tuple[np.ndarray, int]:
        del seed
        hole = (case.coverage > 0).astype(np.uint8) * 255
        return cv2.inpaint(case.truth, hole, 5, flag), 0

    return fill


def through_coarse_size(engine: Engine) -> Callable[[Case, int], tuple[np.ndarray, int]]:
    """The ground truth scaled to each region's coarse working size and back: the sharpest a
    single coarse pass can return."""

    def fill(case: Case, seed: int) -> tuple[np.ndarray, int]:
        del seed
        request = FillRequest(Image.fromarray(case.truth), case.coverage, PRESETS["fast"],
                              context_margin=64, detail="coarse")  # fmt: skip
        result = case.truth.copy()
        for region in engine.plan(request).regions:
            crop = region.region.crop
            size = region.levels[0].working_size
            small = Image.fromarray(case.truth[crop.slices]).resize(size, Image.Resampling.LANCZOS)
            back = np.asarray(small.resize(crop.size, Image.Resampling.LANCZOS))
            result[crop.slices] = composite(case.truth[crop.slices], back,
                                            case.coverage[crop.slices])  # fmt: skip
        return result, 0

    return fill


def run(cases: Sequence[Case], methods: dict, log: Callable[[str], None]) -> list[Row]:
    rows = []
    masks = list(dict.fromkeys(case.mask for case in cases))
    for name, method in methods.items():
        for mask in masks:
            row = Row(name, mask)
            for index, case in enumerate(c for c in cases if c.mask == mask):
                started = time.perf_counter()
                with torch.inference_mode():
                    filled, calls = method(case, index)
                row.seconds.append(time.perf_counter() - started)
                scores = score_fill(case.truth, filled, case.coverage > 0, seed=index)
                row.swd.append(scores.swd)
                row.swd_levels.append(scores.swd_levels)
                row.sharpness.append(scores.sharpness)
                row.model_calls.append(calls)
                row.fills.append(filled)
            log(f"  {name:28s} {mask:8s} swd {np.mean(row.swd):7.1f}  sharpness "
                f"{np.mean(row.sharpness):4.2f}  {np.mean(row.seconds):6.1f} s")  # fmt: skip
            rows.append(row)
    return rows


def spread(values: Sequence[float]) -> str:
    """mean (min-max) of the photos."""
    return f"{np.mean(values):.2f} ({np.min(values):.2f}-{np.max(values):.2f})"


def table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| mask | method | hole SWD mean (min-max) | sharpness mean (min-max) | seconds | calls |",
        "|---|---|---|---|---|---|",
    ]
    for mask in dict.fromkeys(row.mask for row in rows):
        for row in (r for r in rows if r.mask == mask):
            lines.append(
                f"| {mask} | {row.method} | {spread(row.swd)} | {spread(row.sharpness)} | "
                f"{spread(row.seconds)} | {int(np.mean(row.model_calls))} |"
            )
    return lines


def sheet(cases: Sequence[Case], rows: Sequence[Row], path: Path, photos: int = 2) -> None:
    """Rows: the first photos x masks; columns: the hole's surroundings for every method."""
    names = list(dict.fromkeys(case.photo for case in cases))[:photos]
    methods = list(dict.fromkeys(row.method for row in rows))
    lines = []
    for case_index, case in enumerate(c for c in cases if c.photo in names):
        index = [c for c in cases if c.mask == case.mask].index(case)
        box = _view_box(case.coverage)
        masked = case.truth.copy()
        masked[case.coverage > 0] = 128
        cells = [_cell(masked, box, f"{case.photo[:24]} {case.mask}")]
        for method in methods:
            row = next(r for r in rows if r.method == method and r.mask == case.mask)
            cells.append(_cell(row.fills[index], box, method))
        cells.append(_cell(case.truth, box, "ground truth"))
        lines.append(cells)
        del case_index
    grid = Image.new(
        "RGB", (SHEET_TILE * len(lines[0]), (SHEET_TILE + LABEL_HEIGHT) * len(lines)), "white"
    )
    for y, cells in enumerate(lines):
        for x, cell in enumerate(cells):
            grid.paste(cell, (x * SHEET_TILE, y * (SHEET_TILE + LABEL_HEIGHT)))
    grid.save(path)


def _view_box(coverage: np.ndarray) -> tuple[int, int, int, int]:
    """A square around the hole's bounding box with some context (1:1 pixels where it fits)."""
    rows, cols = np.flatnonzero(coverage.any(axis=1)), np.flatnonzero(coverage.any(axis=0))
    cy, cx = (rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2
    side = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 96
    side = min(side, *coverage.shape)
    top = int(np.clip(cy - side // 2, 0, coverage.shape[0] - side))
    left = int(np.clip(cx - side // 2, 0, coverage.shape[1] - side))
    return left, top, left + side, top + side


def _cell(pixels: np.ndarray, box: tuple[int, int, int, int], label: str) -> Image.Image:
    return labelled_tile(Image.fromarray(pixels).crop(box), label[:40], SHEET_TILE)


def run_realsize(
    photos: Sequence[Path],
    engine: Engine,
    presets: Sequence[str],
    out: Path,
    log: Callable[[str], None] = print,
    strengths: Sequence[float] = (),
    native_factors: Sequence[float] = (),
    masks: Sequence[str] = tuple(MASKS),
    long_side: int = LONG_SIDE,
) -> dict:
    """The whole section: cases, methods, table, sheet; returns the JSON-able results.

    ``strengths`` / ``native_factors`` add rows of the first preset with those settings (the
    measurements the defaults were chosen from).
    """
    cases = make_cases(photos, masks, long_side)
    log(f"real-size: {len(photos)} photos x {len(masks)} masks, presets {', '.join(presets)}")
    methods: dict = {}
    for preset in presets:
        methods[f"ours native {preset}"] = ours(engine, preset, "native")
        methods[f"ours coarse {preset}"] = ours(engine, preset, "coarse")
    for strength in strengths:
        methods[f"ours native {presets[0]} strength {strength:g}"] = ours(
            engine, presets[0], "native", refine_strength=strength
        )
    for factor in native_factors:
        methods[f"ours native {presets[0]} 1:1 up to {factor:g}x"] = ours(
            engine, presets[0], "native", native_factor=factor
        )
    methods["OpenCV Telea"] = opencv("telea")
    methods["OpenCV NS"] = opencv("ns")
    methods["truth through coarse size"] = through_coarse_size(engine)
    rows = run(cases, methods, log)
    out.mkdir(parents=True, exist_ok=True)
    sheet(cases, rows, out / "realsize_sheet.png")
    results = {
        "photos": [str(p) for p in photos],
        "model": engine.model.name,
        "dtype": str(engine.model.dtype),
        "rows": [
            {
                "method": r.method,
                "mask": r.mask,
                "swd": r.swd,
                "sharpness": r.sharpness,
                "seconds": r.seconds,
                "model_calls": r.model_calls,
            }
            for r in rows
        ],  # fmt: skip
        "table": table(rows),
    }
    (out / "realsize.json").write_text(json.dumps(results, indent=1) + "\n")
    for line in results["table"]:
        log(line)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repaint_fill_tools.bench.realsize")
    parser.add_argument("--photos", type=Path, required=True, help="folder of validation photos")
    parser.add_argument("--limit", type=int, default=4, help="use the first N photos")
    parser.add_argument("--presets", default="fast", help="comma-separated presets")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--strengths", default="", help="extra rows: refine strengths (0.1,0.35)")
    parser.add_argument("--native-factors", default="", help="extra rows: 1:1 limits (1,2.5)")
    parser.add_argument("--masks", default=",".join(MASKS), help="comma-separated mask types")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    photos = photo_paths(args.photos, args.limit)
    if not photos:
        parser.error(f"no photos in {args.photos}")
    engine = Engine.load(args.model)
    run_realsize(photos, engine, args.presets.split(","), args.out,
                 strengths=_floats(args.strengths),
                 native_factors=_floats(args.native_factors),
                 masks=args.masks.split(","))  # fmt: skip
    return 0


def _floats(text: str) -> list[float]:
    return [float(value) for value in text.split(",") if value]


if __name__ == "__main__":
    raise SystemExit(main())
