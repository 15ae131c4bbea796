"""Weight-space blend of two models of one architecture: ``(1 - weight) * first + weight * second``.

    python -m repaint_fill_tools.training.blend FIRST SECOND --weight 0.25 --out DIR \
        --photos /work/data/photos

Meant for a model and a fine-tuned descendant of it (v2 was warm-started from v1): the two lie
in one basin of the loss, so points on the line between them are models too, and a point near
the first keeps some of what it does well while taking the second's wider knowledge (the
weight-space ensembles of Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022,
implemented from that idea). The blend is exported like a training run (fp16 diffusers layout)
with a model card that records both parents by checksum, the weight, the union of their training
data with every licence, and the held-out / training loss measured on the blend.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import torch
from diffusers import UNet2DModel
from safetensors.torch import load_file

from repaint_fill_tools.training.checkpoint import export_diffusers, unet_folder
from repaint_fill_tools.training.model_card import write_blend_card

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"


def weights_sha256(model_folder: Path) -> str:
    """The sha256 of a model's UNet weights file: how a card names a parent exactly."""
    return hashlib.sha256((unet_folder(model_folder) / WEIGHTS_NAME).read_bytes()).hexdigest()


def architecture(model_folder: Path) -> dict:
    """The UNet's configuration without diffusers' bookkeeping keys (``_class_name``, ...)."""
    config = UNet2DModel.load_config(unet_folder(model_folder))
    return {key: value for key, value in config.items() if not key.startswith("_")}


def blend_state_dicts(
    first: dict[str, torch.Tensor], second: dict[str, torch.Tensor], weight: float
) -> dict[str, torch.Tensor]:
    """``(1 - weight) * first + weight * second`` per tensor, in float32.

    Raises ValueError when the two do not hold the same tensors of the same shapes (different
    architectures cannot be blended), or when ``weight`` is outside [0, 1].
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the weight is the second model's share, from 0 to 1, not {weight}")
    if first.keys() != second.keys():
        missing = sorted(first.keys() ^ second.keys())[:3]
        raise ValueError(f"the models hold different tensors ({missing}): not one architecture")
    blended = {}
    for name, tensor in first.items():
        if tensor.shape != second[name].shape:
            raise ValueError(
                f"{name}: shape {tuple(tensor.shape)} vs {tuple(second[name].shape)}: "
                "the models are not one architecture"
            )
        blended[name] = torch.lerp(tensor.float(), second[name].float(), weight)
    return blended


def blend_models(first: Path, second: Path, weight: float, out: Path) -> Path:
    """Write the blend of two diffusers model folders to ``out`` (fp16, the export's layout)."""
    config = architecture(first)
    if config != architecture(second):
        raise ValueError(f"{first} and {second} have different UNet configurations: cannot blend")
    weights = [load_file(unet_folder(folder) / WEIGHTS_NAME) for folder in (first, second)]
    return export_diffusers(config, blend_state_dicts(*weights, weight), out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repaint_fill_tools.training.blend")
    parser.add_argument("first", type=Path, help="diffusers model folder (weight 1 - W)")
    parser.add_argument("second", type=Path, help="diffusers model folder (weight W)")
    parser.add_argument("--weight", type=float, required=True, help="W, the second's share")
    parser.add_argument("--out", type=Path, required=True, help="folder for the blended model")
    parser.add_argument(
        "--photos", type=Path, help="photo_sources output: the card's held-out / training loss"
    )
    parser.add_argument(
        "--no-card", action="store_true", help="weights only (quick variants to compare)"
    )
    args = parser.parse_args(argv)
    try:
        blend_models(args.first, args.second, args.weight, args.out)
    except (ValueError, OSError) as error:
        parser.exit(2, f"blend: {error}\n")
    if not args.no_card:
        parents = [
            (1 - args.weight, args.first, weights_sha256(args.first)),
            (args.weight, args.second, weights_sha256(args.second)),
        ]
        write_blend_card(args.out, parents, args.photos)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
