"""The sampler's reverse steps as values: which update rule one model call ends with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DDPMStep:
    """The reference's ancestral step: posterior mean plus fixed or learned variance."""

    variance: str = "fixed_small"  # fixed_small | fixed_large; learned when the model says so


@dataclass(frozen=True)
class DDIMStep:
    """diffusers' RePaint variant: a DDIM-style update; eta = 0 adds no noise in the step."""

    eta: float = 0.0


ReverseStep = DDPMStep | DDIMStep
