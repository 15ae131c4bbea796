"""A tiny random guided-diffusion checkpoint (same architecture as the paper's, fewer channels)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from repaint_fill_backend.guided_diffusion import GuidedDiffusionConfig, GuidedDiffusionUNet

# Every feature of the 552M models at a size that runs in milliseconds: attention (16 channels
# per head), resblock up/down sampling, scale-shift norm, learned sigma. Stride 4.
SMALL = GuidedDiffusionConfig(
    image_size=32,
    model_channels=32,
    channel_mult=(1, 2, 2),
    num_res_blocks=1,
    attention_resolutions=(2,),
    num_head_channels=16,
)


def random_unet(config: GuidedDiffusionConfig = SMALL, seed: int = 0) -> GuidedDiffusionUNet:
    """The network with every parameter random (the zero-initialised output convs too, so
    the outputs, variance included, depend on the weights)."""
    generator = torch.Generator().manual_seed(seed)
    model = GuidedDiffusionUNet(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return model


def save_small_checkpoint(
    folder: Path,
    name: str = "small.pt",
    config: GuidedDiffusionConfig = SMALL,
    *,
    sidecar: dict | None = None,
    seed: int = 0,
) -> Path:
    """Save a random network's plain state dict (as guided-diffusion does) and, unless
    ``sidecar`` is {}, a ``.json`` beside it with what the weights cannot show."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    torch.save(random_unet(config, seed).state_dict(), path)
    settings = (
        {"num_head_channels": config.num_head_channels, "image_size": config.image_size}
        if sidecar is None
        else sidecar
    )
    if settings:
        path.with_suffix(".json").write_text(json.dumps(settings))
    return path
