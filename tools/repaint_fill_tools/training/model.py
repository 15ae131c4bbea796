"""The embedded model's architecture and its training noise schedule."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import UNet2DModel

# The model's native working size: at fill time the region is scaled so its longest side is this.
NATIVE_SIZE = 128

# Chosen by measurement (see MODEL_CARD.md): ~7M parameters; one 128x128 forward ~0.11 s on
# 2 threads; one 64x64 batch-16 training step ~1.2 s on 1 thread. The two highest resolutions
# dominate the time, so channels there stay small; attention only at the lowest resolution.
EMBEDDED_UNET_CONFIG: dict[str, Any] = {
    "sample_size": NATIVE_SIZE,
    "in_channels": 3,
    "out_channels": 3,
    "block_out_channels": (32, 64, 128, 192),
    "layers_per_block": 1,
    "down_block_types": ("DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
    "up_block_types": ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"),
    "norm_num_groups": 32,
}

# The measurement behind the choice (idle 2-core machine, torch 2.13 CPU, float32, batch 1 forward
# at 128x128 on 2 threads / batch-16 training step at 64x64 on 1 thread), for the model card.
DESIGN_FORWARD_128_SECONDS = 0.113
DESIGN_TRAIN_STEP_64_SECONDS = 1.16

TRAIN_TIMESTEPS = 1000
BETA_START = 1e-4
BETA_END = 0.02


def build_unet(config: dict[str, Any] | None = None) -> UNet2DModel:
    """A freshly initialised UNet2DModel (the embedded architecture unless ``config`` is given)."""
    return UNet2DModel(**(config or EMBEDDED_UNET_CONFIG))


def linear_alphas_cumprod(timesteps: int = TRAIN_TIMESTEPS) -> torch.Tensor:
    """abar_t for the DDPM linear schedule (betas 1e-4..0.02), float64, one per timestep."""
    betas = torch.linspace(BETA_START, BETA_END, timesteps, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


def parameter_count(model: torch.nn.Module) -> int:
    """Number of parameters in ``model``."""
    return sum(parameter.numel() for parameter in model.parameters())
