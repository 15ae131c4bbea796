"""Named sampling presets and the one place where a request's overrides are resolved."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .choices import REVERSE_STEPS
from .exceptions import ScheduleError
from .reverse_steps import DDIMStep, DDPMStep, ReverseStep
from .schedule import JumpSchedule, jump_schedule


@dataclass(frozen=True)
class SamplingSettings:
    """Everything that decides the sampling walk; one value, passed explicitly."""

    steps: int
    jump_length: int
    jump_n_sample: int
    start_resampling: int | None = None
    reverse_step: str = "ddpm"  # ddpm (the reference's step) | ddim (diffusers' variant)
    eta: float = 0.0  # noise scale of the ddim step

    def schedule(self) -> JumpSchedule:
        return jump_schedule(
            self.steps, self.jump_length, self.jump_n_sample, self.start_resampling
        )

    def step_kind(self, variance_type: str) -> ReverseStep:
        """The sampler's reverse step for these settings and a model's variance type.

        Learned-variance models carry their variance in the prediction; DDPMStep reads it there.
        """
        if self.reverse_step == "ddim":
            return DDIMStep(self.eta)
        return DDPMStep(variance_type)


# fast and balanced are chosen on this project's quality-per-model-call curve for the embedded
# model (docs/benchmarks.md, the rule in tools/repaint_fill_tools/bench/quality_section.py): the
# lowest texture distance among the schedules with the paper's step that resample and fit 75%
# of 20 s (fast) or 60 s (balanced) at the fp32 speed of this 2-core CPU. paper is the paper's
# setting (T=250, j=10, r=10 = 2410 calls).
PRESETS: dict[str, SamplingSettings] = {
    "fast": SamplingSettings(steps=25, jump_length=5, jump_n_sample=3),
    "balanced": SamplingSettings(steps=100, jump_length=5, jump_n_sample=3, start_resampling=50),
    "paper": SamplingSettings(steps=250, jump_length=10, jump_n_sample=10),
}
DEFAULT_PRESET = "fast"


def resolve_settings(
    preset: str | None = None,
    *,
    steps: int | None = None,
    jump_length: int | None = None,
    jump_n_sample: int | None = None,
    start_resampling: int | None = None,
    reverse_step: str | None = None,
    eta: float | None = None,
) -> SamplingSettings:
    """Start from a preset (default ``fast``) and apply the explicitly given overrides."""
    name = preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise ScheduleError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    overrides = {
        "steps": steps,
        "jump_length": jump_length,
        "jump_n_sample": jump_n_sample,
        "start_resampling": start_resampling,
        "reverse_step": reverse_step,
        "eta": eta,
    }
    settings = replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
    if settings.reverse_step not in REVERSE_STEPS:
        choices = " or ".join(repr(name) for name in REVERSE_STEPS)
        raise ScheduleError(f"reverse step must be {choices}, got {settings.reverse_step!r}")
    if not 0.0 <= settings.eta <= 1.0:
        raise ScheduleError(f"eta must be between 0 and 1, got {settings.eta}")
    settings.schedule()  # validates the walk with a user-facing message
    return settings
