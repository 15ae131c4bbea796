"""The RePaint sampler (Lugmayr et al., CVPR 2022) as a plain function over a denoiser.

No I/O, no device choice, no model loading: the caller passes the denoiser, the known image,
``keep_mask`` (1 = keep), the schedule, one generator per batch item and an optional callback.
The per-step maths lives in the small helpers below, each one equation of the paper.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .denoiser import Denoiser, Prediction
from .exceptions import FillCancelled as FillCancelled  # re-exported: callbacks raise it
from .reverse_steps import DDIMStep, DDPMStep, ReverseStep
from .schedule import DiffusionTables, JumpSchedule


@dataclass(frozen=True)
class StepInfo:
    """What the callback is told after each model call."""

    step: int  # model calls done so far
    total: int  # model calls in the whole run
    eta_seconds: float
    index: int  # respaced index the model was just called at
    x0_preview: torch.Tensor | None  # predicted clean image in [-1, 1] when previews are on


StepCallback = Callable[[StepInfo], None]
# Applied to every x0 estimate before the reverse step uses it (the engine's seam
# harmonisation); None = the paper's sampler.
EstimateCorrection = Callable[[torch.Tensor], torch.Tensor]


def gaussian_like(x: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Standard normal noise shaped like ``x``, item ``i`` drawn from ``generators[i]``.

    Drawing per item keeps a batch of K identical to K single runs with the same seeds.
    """
    item_shape = (1, *x.shape[1:])
    noise = [
        torch.randn(item_shape, generator=g, device=x.device, dtype=torch.float32)
        for g in generators
    ]
    return torch.cat(noise).to(x.dtype)


def noise_known_region(
    known: torch.Tensor, abar: float, generators: Sequence[torch.Generator]
) -> torch.Tensor:
    """q(x_t | x_0): the known image at noise level abar (standard deviation sqrt(1 - abar))."""
    return abar**0.5 * known + (1.0 - abar) ** 0.5 * gaussian_like(known, generators)


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, abar: float) -> torch.Tensor:
    """x0 from the epsilon prediction, clamped to the image range [-1, 1]."""
    return ((x_t - (1.0 - abar) ** 0.5 * eps) / abar**0.5).clamp(-1.0, 1.0)


def ddpm_step(
    x_t: torch.Tensor,
    prediction: Prediction,
    index: int,
    tables: DiffusionTables,
    step: DDPMStep,
    generators: Sequence[torch.Generator],
    correct_x0: EstimateCorrection | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One ancestral reverse step x_t -> x_{t-1}; returns (x_prev, x0_prediction)."""
    abar, abar_prev = tables.alphas_cumprod[index], tables.alphas_cumprod_prev[index]
    beta = tables.betas[index]
    x0 = predict_x0(x_t, prediction.eps, abar)
    if correct_x0 is not None:
        x0 = correct_x0(x0)
    mean = (beta * abar_prev**0.5 / (1.0 - abar)) * x0 + (
        (1.0 - abar_prev) * (1.0 - beta) ** 0.5 / (1.0 - abar)
    ) * x_t
    if index == 0:
        return mean, x0
    log_small = tables.posterior_log_variance_clipped[index]
    if prediction.variance_frac is not None:
        frac = prediction.variance_frac.to(x_t.dtype)
        std = torch.exp(0.5 * (frac * math.log(beta) + (1 - frac) * log_small))
    elif step.variance == "fixed_large":
        std = beta**0.5
    else:
        std = tables.posterior_variance[index] ** 0.5
    return mean + std * gaussian_like(x_t, generators), x0


def ddim_step(
    x_t: torch.Tensor,
    prediction: Prediction,
    index: int,
    tables: DiffusionTables,
    step: DDIMStep,
    generators: Sequence[torch.Generator],
    correct_x0: EstimateCorrection | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One DDIM-style reverse step with noise scale eta; returns (x_prev, x0_prediction)."""
    abar, abar_prev = tables.alphas_cumprod[index], tables.alphas_cumprod_prev[index]
    x0 = predict_x0(x_t, prediction.eps, abar)
    if correct_x0 is not None:
        x0 = correct_x0(x0)
    # Re-derive eps from the clamped x0 so the update stays consistent with it.
    eps = (x_t - abar**0.5 * x0) / (1.0 - abar) ** 0.5
    sigma = step.eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)) ** 0.5
    x_prev = abar_prev**0.5 * x0 + max(1.0 - abar_prev - sigma**2, 0.0) ** 0.5 * eps
    if index > 0 and sigma > 0:
        x_prev = x_prev + sigma * gaussian_like(x_t, generators)
    return x_prev, x0


def jump_forward(
    x: torch.Tensor, index: int, tables: DiffusionTables, generators: Sequence[torch.Generator]
) -> torch.Tensor:
    """q(x_{t+1} | x_t) over the whole image: uses beta of the TARGET index t + 1; no model call."""
    beta = tables.betas[index + 1]
    return (1.0 - beta) ** 0.5 * x + beta**0.5 * gaussian_like(x, generators)


def repaint(
    denoiser: Denoiser,
    known: torch.Tensor,
    keep_mask: torch.Tensor,
    schedule: JumpSchedule,
    tables: DiffusionTables,
    *,
    generators: Sequence[torch.Generator],
    reverse_step: ReverseStep = DDPMStep(),
    callback: StepCallback | None = None,
    preview: bool = False,
    init: torch.Tensor | None = None,
    correct_x0: EstimateCorrection | None = None,
) -> torch.Tensor:
    """Inpaint ``known`` where ``keep_mask`` is 0; returns the sample in [-1, 1] (N, C, H, W).

    known: (N, C, H, W) float in [-1, 1]; keep_mask: (N or 1, 1, H, W), 1 = keep, 0 = generate.
    init: an estimate of the whole clean image (same shape as ``known``) to refine: sampling then
    starts from it noised to the schedule's first index (for a schedule cut with
    ``from_index``) instead of from pure noise.
    correct_x0: applied to every x0 estimate before the step uses it (None: the paper's walk).
    The known region of the output is only approximately the input: composite afterwards.
    """
    if len(generators) != known.shape[0]:
        raise ValueError("one generator per batch item is required")
    if tables.steps != schedule.steps:
        raise ValueError("tables and schedule disagree on the number of steps")
    keep_mask = keep_mask.to(known.dtype)
    if init is None:
        x = gaussian_like(known, generators)
    else:
        x = noise_known_region(init.to(known.dtype), tables.alphas_cumprod[schedule.first_index],
                               generators)  # fmt: skip
    total, done, started = schedule.model_calls, 0, time.perf_counter()
    for current, target in schedule.moves():
        if target > current:
            x = jump_forward(x, current, tables, generators)
            continue
        abar = tables.alphas_cumprod[current]
        x = keep_mask * noise_known_region(known, abar, generators) + (1 - keep_mask) * x
        timesteps = torch.full((x.shape[0],), tables.timesteps[current], device=x.device)
        prediction = denoiser(x, timesteps)
        if isinstance(reverse_step, DDIMStep):
            x, x0 = ddim_step(x, prediction, current, tables, reverse_step, generators,
                              correct_x0)  # fmt: skip
        else:
            x, x0 = ddpm_step(x, prediction, current, tables, reverse_step, generators,
                              correct_x0)  # fmt: skip
        done += 1
        if callback is not None:
            elapsed = time.perf_counter() - started
            callback(
                StepInfo(
                    step=done,
                    total=total,
                    eta_seconds=elapsed / done * (total - done),
                    index=current,
                    x0_preview=x0 if preview else None,
                )
            )
    return x.clamp(-1.0, 1.0)
