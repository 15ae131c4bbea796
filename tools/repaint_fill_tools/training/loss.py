"""The training objective, shared by the training loop and the held-out evaluation."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def diffusion_loss(
    model: torch.nn.Module,
    clean: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    timesteps: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """DDPM simple loss: MSE between true and predicted noise at a uniform random timestep.

    ``timesteps`` and ``noise`` are drawn from torch's global generator unless given (the
    held-out breakdown by noise level fixes both).
    """
    if timesteps is None:
        timesteps = torch.randint(0, alphas_cumprod.numel(), (clean.shape[0],))
    if noise is None:
        noise = torch.randn_like(clean)
    abar = alphas_cumprod[timesteps].to(clean.dtype).view(-1, 1, 1, 1)
    noisy = abar.sqrt() * clean + (1.0 - abar).sqrt() * noise
    return F.mse_loss(model(noisy, timesteps).sample.float(), noise.float())
