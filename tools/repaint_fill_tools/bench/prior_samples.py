"""What each model paints when nothing is known: unconditional samples, one row per model.

    python -m repaint_fill_tools.bench.prior_samples embedded \
        tools/repaint_fill_tools/training/resume/embedded-v2 --out docs/prior_samples.png

A fill can only be as good as the model's picture of the world. With an all-unknown mask the
product's RePaint walk (same preset, same reverse step, same dtype) is plain DDPM sampling, so
these are the pictures the model would invent from scratch at its native size: memorised
textures, flat colour or scene layout show here at a glance, before any fill metric. Every
model draws from the same seeds.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from repaint_fill_backend.engine import Engine, sample_batch
from repaint_fill_backend.imaging import from_model_tensor
from repaint_fill_backend.presets import resolve_settings

from .pictures import LABEL_HEIGHT, labelled_tile

TILE = 160


def prior_samples(engine: Engine, preset: str, seeds: Sequence[int]) -> list[Image.Image]:
    """One unconditional sample per seed at the model's native size, through the product's
    sampler (an all-zero keep mask: nothing is known)."""
    model = engine.model
    size = model.native_size
    known = torch.zeros(len(seeds), model.in_channels, size, size)
    keep_mask = torch.zeros(1, 1, size, size)
    with engine.session():
        samples = sample_batch(model, known, keep_mask, resolve_settings(preset), list(seeds))
    return [Image.fromarray(from_model_tensor(sample, (size, size))) for sample in samples]


def sheet(rows: dict[str, list[Image.Image]], path: Path) -> None:
    """Rows of labelled tiles, one row per model."""
    width = max(len(images) for images in rows.values())
    grid = Image.new("RGB", (TILE * width, (TILE + LABEL_HEIGHT) * len(rows)), "white")
    for y, (name, images) in enumerate(rows.items()):
        for x, image in enumerate(images):
            label = f"{name} seed {x}" if x == 0 else f"seed {x}"
            grid.paste(
                labelled_tile(image, label[:40], TILE), (x * TILE, y * (TILE + LABEL_HEIGHT))
            )
    grid.save(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repaint_fill_tools.bench.prior_samples")
    parser.add_argument("models", nargs="+", help="model specs (embedded, a folder, a hub id)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG sheet to write")
    parser.add_argument("--count", type=int, default=6, help="samples per model")
    parser.add_argument("--preset", default="balanced", help="the sampling preset")
    parser.add_argument("--dtype", default="auto", help="as the product: auto, fp32, bf16")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = range(args.count)
    rows = {}
    for spec in args.models:
        name = Path(spec).name or spec
        rows[name] = prior_samples(Engine.load(spec, dtype=args.dtype), args.preset, seeds)
        print(f"{name}: {args.count} samples", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet(rows, args.out)
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
