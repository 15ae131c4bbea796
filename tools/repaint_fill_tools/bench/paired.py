"""Paired comparison of two or more models' fills: the test a new embedded model must pass to ship.

    python -m repaint_fill_tools.bench.paired --photos /work/data/photos/val --limit 8 \
        --models embedded tools/repaint_fill_tools/training/resume/embedded-v2 --out /tmp/paired

Every model fills the same real-size cases (``realsize``'s photos scaled to ``--long-side``, its
masks) with the same seeds through the product's path, beside OpenCV Telea. For each model it
prints the hole's texture distance (SWD) and sharpness, and against the first model (the shipped
one) the mean paired difference with its standard error and on how many cases it is lower. A
model ships only when it is lower on average by more than about two standard errors.

Use photos nothing trained or tuned on; the Debian packages mate-backgrounds and palapeli-data
are for the final independent check only (``--photos`` of those, after the decision).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from repaint_fill_backend.engine import Engine

from .metrics import LEVEL_NAMES
from .realsize import (
    LONG_SIDE,
    MASKS,
    Row,
    make_cases,
    opencv,
    ours,
    photo_paths,
    run,
    sheet,
)


def paired_difference(ours: Sequence[float], baseline: Sequence[float]) -> dict[str, float]:
    """Mean of ``ours - baseline`` over paired cases, its standard error, and the lower count."""
    differences = np.asarray(ours, float) - np.asarray(baseline, float)
    error = differences.std(ddof=1) / np.sqrt(len(differences)) if len(differences) > 1 else 0.0
    return {
        "mean": float(differences.mean()),
        "standard_error": float(error),
        "lower": int((differences < 0).sum()),
        "cases": len(differences),
    }


def compare(rows_by_model: dict[str, list[Row]]) -> list[dict]:
    """Per model and mask: means, and the paired difference against the first model, overall
    and per SWD level (a model can win on layout, the coarse level, and lose on texture)."""
    names = list(rows_by_model)
    shipped = {row.mask: row for row in rows_by_model[names[0]]}
    summary = []
    for name in names:
        for row in rows_by_model[name]:
            levels = np.asarray(row.swd_levels, float)  # (cases, levels)
            entry = {
                "model": name,
                "mask": row.mask,
                "swd": float(np.mean(row.swd)),
                "swd_levels": dict(zip(LEVEL_NAMES, levels.mean(axis=0).tolist(), strict=True)),
                "sharpness": float(np.mean(row.sharpness)),
                "seconds": float(np.mean(row.seconds)),
            }
            if name != names[0]:
                first = np.asarray(shipped[row.mask].swd_levels, float)
                entry["swd_vs_first"] = paired_difference(row.swd, shipped[row.mask].swd)
                entry["swd_levels_vs_first"] = {
                    level: paired_difference(levels[:, k], first[:, k])
                    for k, level in enumerate(LEVEL_NAMES)
                }
            summary.append(entry)
    return summary


def lines(summary: list[dict]) -> list[str]:
    """The summary as a Markdown table."""
    by_level = " / ".join(LEVEL_NAMES)
    out = [
        f"| mask | model | hole SWD | SWD {by_level} | sharpness | seconds "
        f"| SWD vs first (mean +- s.e., lower) | {by_level} vs first |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in summary:
        versus = entry.get("swd_vs_first")
        paired = (f"{versus['mean']:+.1f} +- {versus['standard_error']:.1f}, "
                  f"{versus['lower']} of {versus['cases']}") if versus else "-"  # fmt: skip
        levels = " / ".join(f"{value:.0f}" for value in entry["swd_levels"].values())
        level_versus = (
            " / ".join(
                f"{d['mean']:+.0f} +- {d['standard_error']:.0f}"
                for d in entry.get("swd_levels_vs_first", {}).values()
            )
            or "-"
        )
        out.append(f"| {entry['mask']} | {entry['model']} | {entry['swd']:.1f} | {levels} | "
                   f"{entry['sharpness']:.2f} | {entry['seconds']:.1f} | {paired} "
                   f"| {level_versus} |")  # fmt: skip
    return out


def variants(harmonize: str, detail_match: str) -> list[tuple[bool, bool, str]]:
    """(harmonize, detail_match, label suffix) of every variant each model runs, the product's
    own (both on) last; "both" runs a step off (labelled 'raw' / 'soft') and on."""
    steps = {"on": [(True, "")], "off": [(False, "")]}
    harmonize_options = steps.get(harmonize, [(False, " raw"), (True, "")])
    detail_options = steps.get(detail_match, [(False, " soft"), (True, "")])
    return [(h, d, h_suffix + d_suffix) for h, h_suffix in harmonize_options
            for d, d_suffix in detail_options]  # fmt: skip


def model_rows(
    spec: str, label: str, cases: list, args: argparse.Namespace
) -> dict[str, list[Row]]:
    """Every variant of one model on every case: {variant name: rows}. Runs in a worker process
    under ``--jobs``, so it loads its own engine and sets its own thread count."""
    torch.set_num_threads(args.threads)
    engine = Engine.load(spec, dtype=args.dtype)
    rows = {}
    for harmonize, detail_match, suffix in variants(args.harmonize, args.detail_match):
        name = label + suffix
        print(f"{name} ({spec}): {len(cases)} cases", flush=True)
        method = ours(engine, args.preset, args.detail, harmonize=harmonize,
                      detail_match=detail_match)  # fmt: skip
        rows[name] = run(cases, {name: method}, print)
    return rows


def every_model_rows(
    cases: list, args: argparse.Namespace, labels: list[str]
) -> dict[str, list[Row]]:
    """Rows of every model in ``--models`` order, computed ``--jobs`` models at a time (each in
    its own process; fills are seeded per case, so the numbers do not depend on it)."""
    models = list(zip(args.models, labels, strict=True))
    if args.jobs == 1:
        results = [model_rows(spec, label, cases, args) for spec, label in models]
    else:
        # spawn: a fresh interpreter per worker, never a fork of torch's thread pools
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
            futures = [pool.submit(model_rows, spec, label, cases, args) for spec, label in models]
            results = [future.result() for future in futures]
    return {name: rows for result in results for name, rows in result.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repaint_fill_tools.bench.paired")
    parser.add_argument("--photos", type=Path, required=True, help="folder of unseen photos")
    parser.add_argument("--models", nargs="+", required=True, help="the shipped model first")
    parser.add_argument("--limit", type=int, default=8, help="use the first N photos")
    parser.add_argument("--masks", default="box", help=f"comma-separated, of {', '.join(MASKS)}")
    parser.add_argument("--detail", default="native", choices=("native", "coarse"))
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--long-side", type=int, default=LONG_SIDE)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="auto", help="as the product: auto, fp32, bf16")
    parser.add_argument(
        "--harmonize", default="on", choices=("on", "off", "both"),
        help="the seam harmonisation; both: every model without it (labelled 'raw') and with it",
    )  # fmt: skip
    parser.add_argument(
        "--detail-match", default="on", choices=("on", "off", "both"),
        help="matching the fill's grain to its surroundings'; both: every model without it "
        "(labelled 'soft') and with it",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", type=int, default=1,
        help="models filled at once, each in its own process with --threads threads (the same "
        "numbers; the seconds column then measures a shared CPU)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="paired.json and a picture sheet")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    photos = photo_paths(args.photos, args.limit)
    if not photos:
        parser.error(f"no photos in {args.photos}")
    labels = [Path(spec).name or spec for spec in args.models]
    if len(set(labels)) < len(labels):
        parser.error(f"--models must name different models (folder names {labels})")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    cases = make_cases(photos, args.masks.split(","), args.long_side)
    rows_by_model = every_model_rows(cases, args, labels)
    rows_by_model["OpenCV Telea"] = run(cases, {"OpenCV Telea": opencv("telea")}, print)
    summary = compare(rows_by_model)
    args.out.mkdir(parents=True, exist_ok=True)
    every_row = [row for rows in rows_by_model.values() for row in rows]
    sheet(cases, every_row, args.out / "paired_sheet.png", photos=min(4, len(photos)))
    report = {
        "photos": [str(p) for p in photos],
        "models": args.models,
        "settings": {k: str(v) for k, v in vars(args).items() if k not in ("models", "photos")},
        "per_case_swd": {
            name: {row.mask: row.swd for row in rows} for name, rows in rows_by_model.items()
        },
        "summary": summary,
        "table": lines(summary),
    }
    (args.out / "paired.json").write_text(json.dumps(report, indent=1) + "\n")
    for line in report["table"]:
        print(line)
    print(f"wrote {args.out / 'paired.json'} and paired_sheet.png", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
