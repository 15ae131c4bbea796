"""Held-out check of two or more UNets on the same crops: training vs validation epsilon MSE.

    python -m repaint_fill_tools.training.compare --photos /work/data/photos \
        backend/repaint_fill_backend/weights/embedded \
        tools/repaint_fill_tools/training/resume/embedded-v2

Every model sees the same 128 fixed crops at every scale (``held_out.mean_loss``) of the training
images (bundled + the photos' ``train`` split) and of the held-out photos (scikit-learn's two +
the ``val`` split), at 64 and 128 px; the ratio held-out / training shows memorising.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from diffusers import UNet2DModel

from repaint_fill_tools.training.data import load_training_pyramids
from repaint_fill_tools.training.held_out import load_validation_images, mean_loss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repaint_fill_tools.training.compare")
    parser.add_argument("models", nargs="+", type=Path, help="diffusers model folders")
    parser.add_argument("--photos", type=Path, required=True, help="photo_sources output folder")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train = load_training_pyramids(args.photos)
    held_out = load_validation_images(args.photos) or []
    for folder in args.models:
        unet_folder = folder / "unet" if (folder / "unet").is_dir() else folder
        model = UNet2DModel.from_pretrained(unet_folder).float().eval()
        for resolution in (64, 128):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                seen, unseen = (
                    mean_loss(model, train, resolution),
                    mean_loss(model, held_out, resolution),
                )
            print(f"{folder} @{resolution}px: training {seen:.5f}  held-out {unseen:.5f}  "
                  f"ratio {unseen / seen:.2f}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
