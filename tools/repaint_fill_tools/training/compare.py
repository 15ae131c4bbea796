"""Held-out check of two or more UNets on the same crops: training vs validation epsilon MSE.

    python -m repaint_fill_tools.training.compare --photos /work/data/photos \
        backend/repaint_fill_backend/weights/embedded \
        tools/repaint_fill_tools/training/resume/embedded-v2

Every model sees the same 128 fixed crops at every scale (``held_out.mean_loss``) of the training
images (bundled + the photos' ``train`` split) and of the held-out photos (scikit-learn's two +
the ``val`` split), at 64 and 128 px; the ratio held-out / training shows memorising.

``--per-image`` scores each image on its own seeded crops (``held_out.per_image_loss``, 64 px) and
prints, per model, the held-out / training ratio against the bundled images (the training set of
a model trained on them alone, like v1) and against all training images, each with a bootstrap
interval over images, and the held-out photos one by one: whether a gap is the model's memory
or a few hard photos.

``--by-noise`` adds, per model, the held-out loss by noise level and crop scale at 128 px
(``held_out.loss_by_noise``): whether a model's gain is in the layout (high noise, whole frame)
or in the texture (low noise, 1:1 pixels).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from diffusers import UNet2DModel

from repaint_fill_tools.training.checkpoint import unet_folder
from repaint_fill_tools.training.data import TRAINING_IMAGES, ImagePyramid, load_training_pyramids
from repaint_fill_tools.training.held_out import (
    CROP_SCALES,
    NOISE_BANDS,
    load_named_validation_images,
    loss_by_noise,
    mean_loss,
    per_image_loss,
    ratio_with_interval,
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


def per_image_table(
    models: dict[str, torch.nn.Module],
    train: list[ImagePyramid],
    held_out: dict[str, ImagePyramid],
) -> list[str]:
    """Per model: held-out / training ratios with intervals; then every held-out photo's loss."""
    bundled = len(TRAINING_IMAGES)  # load_training_pyramids puts the bundled images first
    lines = ["| model | training set | training loss | held-out loss | ratio (5-95% over images) |",
             "|---|---|---|---|---|"]  # fmt: skip
    by_photo = {}
    for name, model in models.items():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            seen = np.asarray(per_image_loss(model, train))
            unseen = np.asarray(per_image_loss(model, list(held_out.values())))
        by_photo[name] = unseen
        for label, images in (("bundled", seen[:bundled]), ("all", seen)):
            ratio, low, high = ratio_with_interval(unseen, images)
            lines.append(
                f"| {name} | {label} ({images.size}) | {images.mean():.4f} | {unseen.mean():.4f} "
                f"| {ratio:.2f} ({low:.2f}-{high:.2f}) |"
            )
    lines += ["", "| held-out photo | " + " | ".join(models) + " |",
              "|---|" + "---|" * len(models)]  # fmt: skip
    for index, photo in enumerate(held_out):
        losses = " | ".join(f"{by_photo[model][index]:.4f}" for model in models)
        lines.append(f"| {photo} | {losses} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repaint_fill_tools.training.compare")
    parser.add_argument("models", nargs="+", type=Path, help="diffusers model folders")
    parser.add_argument("--photos", type=Path, required=True, help="photo_sources output folder")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--by-noise", action="store_true",
                        help="also the held-out loss by noise level and crop scale")  # fmt: skip
    parser.add_argument("--per-image", action="store_true",
                        help="each image's loss; the ratios with their spread")  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train = load_training_pyramids(args.photos)
    named_held_out = load_named_validation_images(args.photos)
    held_out = list(named_held_out.values())
    models = {}
    for folder in args.models:
        model = UNet2DModel.from_pretrained(unet_folder(folder)).float().eval()
        models[str(folder)] = model  # the path: two folders of the same name stay apart
        for resolution in (64, 128):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                seen, unseen = (
                    mean_loss(model, train, resolution),
                    mean_loss(model, held_out, resolution),
                )
            print(f"{folder} @{resolution}px: training {seen:.5f}  held-out {unseen:.5f}  "
                  f"ratio {unseen / seen:.2f}", flush=True)  # fmt: skip
    if args.per_image:
        for line in per_image_table(models, train, named_held_out):
            print(line, flush=True)
    if args.by_noise:
        for line in noise_table(models, held_out, 128):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
