"""The one model interface the sampler knows: ``denoiser(x_t, t) -> Prediction``.

Model adapters (diffusers UNet2DModel, guided-diffusion checkpoints) turn a network into this
shape; tests pass a lambda. ``t`` holds the ORIGINAL training timesteps (0..999 for a 1000-step
model) of the respaced indices, one per batch item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch


class Prediction(NamedTuple):
    """What a denoiser predicts for a noisy batch ``x_t``.

    eps: the predicted noise, same shape as ``x_t``.
    variance_frac: for learned-variance models, the interpolation in [0, 1] between
        log(beta_t) (frac = 1) and log(beta_tilde_t) (frac = 0); None = fixed variance.
    """

    eps: torch.Tensor
    variance_frac: torch.Tensor | None = None


Denoiser = Callable[[torch.Tensor, torch.Tensor], Prediction]


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to sample with: its denoiser and the facts the engine needs about it."""

    name: str
    denoiser: Denoiser
    training_betas: np.ndarray  # float64, one per training timestep (usually 1000)
    native_size: int  # the side length the model was trained at; the working size's longest side
    stride: int  # working sizes must be multiples of this (2 ** number of downsamplings)
    in_channels: int  # 3 for RGB models
    device: torch.device
    dtype: torch.dtype
    parameters: int
    # fixed_small | fixed_large | learned_range (learned models also return variance_frac)
    variance_type: str = "fixed_small"
