"""Held-out check of two or more UNets on the same crops: training vs validation epsilon MSE.

    python -m repaint_fill_tools.training.compare --photos /work/data/photos \
        backend/repaint_fill_backend/weights/embedded \
        tools/repaint_fill_tools/training/resume/embedded-v2

Every model sees the same 128 fixed crops at every scale (``held_out.mean_loss``) of the training
images (bundled + the photos' ``train`` split) and of the held-out photos (scikit-learn's two +
the ``val`` split), at 64 and 128 px; the ratio held-out / training shows memorising.

``--by-noise`` adds, per model, the held-out loss by noise level and crop scale at 128 px
(``held_out.loss_by_noise``): whether a model's gain is in the layout (high noise, whole frame)
or in the texture (low noise, 1:1 pixels).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from diffusers import UNet2DModel

from repaint_fill_tools.training.data import load_training_pyramids
from repaint_fill_tools.training.held_out import (
    CROP_SCALES,
    NOISE_BANDS,
    load_validation_images,
    loss_by_noise,
    mean_loss,
)


def noise_table(models: dict[str, torch.nn.Module], held_out: list, resolution: int) -> list[str]:
    """Held-out epsilon MSE per model, crop scale and noise band, as a Markdown table."""
    bands = " | ".join(f"t {low}-{high - 1}" for low, high in NOISE_BANDS)
    lines = [f"| model | crops ({resolution} px) | {bands} |",
             "|---|---|" + "---|" * len(NOISE_BANDS)]  # fmt: skip
    for scale in CROP_SCALES:
        for name, model in models.items():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                losses = loss_by_noise(model, held_out, resolution, scale)
            lines.append(f"| {name} | {scale} | " + " | ".join(f"{v:.5f}" for v in losses) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repaint_fill_tools.training.compare")
    parser.add_argument("models", nargs="+", type=Path, help="diffusers model folders")
    parser.add_argument("--photos", type=Path, required=True, help="photo_sources output folder")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--by-noise", action="store_true",
                        help="also the held-out loss by noise level and crop scale")  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train = load_training_pyramids(args.photos)
    held_out = load_validation_images(args.photos) or []
    models = {}
    for folder in args.models:
        unet_folder = folder / "unet" if (folder / "unet").is_dir() else folder
        model = UNet2DModel.from_pretrained(unet_folder).float().eval()
        models[str(folder)] = model  # the path: two folders of the same name stay apart
        for resolution in (64, 128):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                seen, unseen = (
                    mean_loss(model, train, resolution),
                    mean_loss(model, held_out, resolution),
                )
            print(f"{folder} @{resolution}px: training {seen:.5f}  held-out {unseen:.5f}  "
                  f"ratio {unseen / seen:.2f}", flush=True)  # fmt: skip
    if args.by_noise:
        for line in noise_table(models, held_out, 128):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
