"""The quality sweep (quality against model calls), the preset choice, the plot and the grid."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from repaint_fill_backend.budget import CurvePoint, choose_schedule, estimate_seconds
from repaint_fill_backend.denoiser import LoadedModel
from repaint_fill_backend.presets import SamplingSettings

from .pictures import labelled_tile
from .quality import MethodResult, Sample, fill_samples, opencv_fill, run_method, summarise


def settings_label(settings: SamplingSettings) -> str:
    label = f"T{settings.steps} j{settings.jump_length} r{settings.jump_n_sample}"
    if settings.start_resampling is not None:
        label += f" start{settings.start_resampling}"
    if settings.reverse_step == "ddim":
        label = f"DDIM(eta={settings.eta:g}) " + label
    return label


S = SamplingSettings
FULL_SWEEP: tuple[SamplingSettings, ...] = (
    S(25, 5, 1),
    S(50, 5, 1),
    S(25, 5, 3),
    S(25, 5, 5),
    S(50, 5, 5, start_resampling=25),
    S(100, 5, 3, start_resampling=50),
    S(50, 5, 5),
    S(25, 5, 3, reverse_step="ddim"),
    S(50, 5, 5, reverse_step="ddim"),
)
QUICK_SWEEP: tuple[SamplingSettings, ...] = (
    S(4, 2, 1),
    S(4, 2, 2),
    S(4, 2, 2, reverse_step="ddim"),
)


@dataclass(frozen=True)
class SweepRow:
    settings: SamplingSettings
    label: str
    model_calls: int
    seconds: float
    swd: float
    sharpness: float
    psnr: float
    ssim: float
    swd_se: float = float("nan")


def run_sweep(
    model: LoadedModel,
    samples: Sequence[Sample],
    points: Sequence[SamplingSettings],
    batch: int,
    log: Callable[[str], None] = print,
) -> list[SweepRow]:
    """Every sweep point on every sample; mean scores per point."""
    rows = []
    for settings in points:
        calls = settings.schedule().model_calls
        result = run_method(
            settings_label(settings),
            samples,
            lambda s=settings: fill_samples(model, samples, s, batch),
            calls,
        )
        mean = summarise(result, samples)[-1]
        rows.append(
            SweepRow(
                settings,
                result.method,
                calls,
                result.seconds,
                mean["swd"],
                mean["sharpness"],
                mean["psnr"],
                mean["ssim"],
                mean["swd_se"],
            )
        )
        log(
            f"  sweep {result.method}: {calls} calls, {result.seconds:.1f} s, "
            f"SWD {mean['swd']:.1f}, sharpness {mean['sharpness']:.2f}"
        )
    return rows


def run_baselines(samples: Sequence[Sample]) -> list[MethodResult]:
    return [
        run_method("OpenCV Telea", samples, lambda: opencv_fill(samples, "telea"), 0),
        run_method("OpenCV Navier-Stokes", samples, lambda: opencv_fill(samples, "ns"), 0),
    ]


def automatic_candidates(rows: Sequence[SweepRow]) -> list[SweepRow]:
    """The sweep points presets and time budgets may pick: those with the paper's reverse step.

    The DDIM-style step is measured beside it (docs/benchmarks.md); on a few samples the two are
    within noise of each other, so automatic choices keep the paper's step. Users choose the
    other with --reverse-step ddim.
    """
    return [r for r in rows if r.settings.reverse_step == "ddpm"]


def write_curve(rows: Sequence[SweepRow], path: Path, model_name: str) -> None:
    """Store the curve the time budget chooses from (package data)."""
    points = [
        {
            "label": r.label,
            "settings": asdict(r.settings),
            "model_calls": r.model_calls,
            "swd": round(r.swd, 3),
            "sharpness": round(r.sharpness, 3),
        }
        for r in sorted(automatic_candidates(rows), key=lambda r: r.model_calls)
    ]
    payload = {
        "model": model_name,
        "metric": "mean SWD x1e3 over box and wide masks (lower is better); the paper's step",
        "points": points,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def recommend_presets(
    rows: Sequence[SweepRow], seconds_per_call: float, limits: dict[str, float], margin: float
) -> dict[str, dict]:
    """For each named time limit, the budget's choice (budget.choose_schedule) among the
    automatic candidates, for a budget of that limit x margin."""
    curve = [CurvePoint(r.settings, r.model_calls, r.swd) for r in automatic_candidates(rows)]
    picks = {}
    for name, limit in limits.items():
        choice = choose_schedule(curve, seconds_per_call, limit, margin)
        picks[name] = {
            "label": settings_label(choice.settings),
            "settings": asdict(choice.settings),
            "model_calls": choice.model_calls,
            "limit_seconds": limit,
            "estimated_seconds": round(estimate_seconds(choice.model_calls, seconds_per_call), 1),
            "fits": choice.fits,
        }
    return picks


def plot_curve(rows: Sequence[SweepRow], baselines: dict[str, dict], path: Path) -> None:
    """Quality against model calls: SWD, sharpness, PSNR and SSIM, with OpenCV as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    metrics = (
        ("swd", "SWD x1e3 (lower is better)"),
        ("sharpness", "sharpness ratio (1 = ring)"),
        ("psnr", "PSNR over hole (dB)"),
        ("ssim", "SSIM over hole"),
    )
    figure, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    kinds = {
        "DDPM": [
            r
            for r in rows
            if r.settings.reverse_step == "ddpm" and r.settings.start_resampling is None
        ],
        "DDPM, late resampling": [r for r in rows if r.settings.start_resampling is not None],
        "DDIM step": [r for r in rows if r.settings.reverse_step == "ddim"],
    }
    for axis, (key, title) in zip(axes, metrics):
        for (kind, members), marker in zip(kinds.items(), ("o", "s", "^")):
            if members:
                axis.scatter(
                    [m.model_calls for m in members],
                    [getattr(m, key) for m in members],
                    marker=marker,
                    label=kind,
                )
                for member in members:
                    axis.annotate(
                        member.label.replace("DDIM(eta=0) ", ""),
                        (member.model_calls, getattr(member, key)),
                        fontsize=6,
                    )
        for (name, scores), style in zip(baselines.items(), ("--", ":")):
            axis.axhline(scores[key], linestyle=style, color="grey", label=name)
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("model calls per image")
        axis.set_title(title, fontsize=10)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _tile(pixels: np.ndarray, label: str, size: int) -> Image.Image:
    return labelled_tile(Image.fromarray(pixels), label[:28], size)


def image_grid(
    samples: Sequence[Sample], results: Sequence[MethodResult], path: Path, tile: int = 192
) -> None:
    """Rows = samples; columns = input (hole grey), mask, each method, ground truth."""
    rows = []
    for index, sample in enumerate(samples):
        hole = sample.coverage > 0
        masked = sample.truth.copy()
        masked[hole] = 128
        tiles = [
            _tile(masked, f"{sample.name} {sample.mask}", tile),
            _tile(sample.coverage, "mask (white = fill)", tile),
        ]
        tiles += [_tile(r.fills[index], r.method, tile) for r in results]
        tiles.append(_tile(sample.truth, "ground truth", tile))
        rows.append(tiles)
    width, height = rows[0][0].size
    grid = Image.new("RGB", (width * len(rows[0]), height * len(rows)), "white")
    for y, row in enumerate(rows):
        for x, cell in enumerate(row):
            grid.paste(cell, (x * width, y * height))
    grid.save(path)
