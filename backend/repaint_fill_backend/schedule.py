"""Schedules as values: the RePaint jump schedule and the respaced diffusion coefficient tables.

Nothing here is stateful: a schedule is a tuple of indices, a coefficient table is a frozen value
computed once per (training betas, respacing) and read by the sampler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .exceptions import ScheduleError

MAX_STEPS = 1000


@dataclass(frozen=True)
class JumpSchedule:
    """The visited respaced indices, from ``steps - 1`` down to ``-1`` (= done).

    Every move is +-1. A downward move ``t -> t - 1`` is one model call (a reverse step at ``t``);
    an upward move ``t -> t + 1`` is a forward jump, which costs no model call.
    """

    steps: int
    jump_length: int
    resamplings: int
    start_resampling: int | None
    indices: tuple[int, ...]

    @property
    def model_calls(self) -> int:
        """Number of downward moves, i.e. denoiser evaluations per image."""
        return sum(1 for a, b in self.moves() if b < a)

    def moves(self) -> list[tuple[int, int]]:
        """Consecutive (from, to) pairs of the walk."""
        return list(zip(self.indices[:-1], self.indices[1:]))

    @property
    def first_index(self) -> int:
        """The index the walk starts at (``steps - 1`` unless cut by ``from_index``)."""
        return self.indices[0]

    def from_index(self, start: int) -> JumpSchedule:
        """The same walk from its first arrival at ``start`` on: a partial run that refines an
        existing estimate noised to that level (resampling jumps below ``start`` are kept)."""
        if not 0 <= start <= self.steps - 1:
            raise ScheduleError(f"start index must be between 0 and {self.steps - 1}, got {start}")
        cut = self.indices.index(start)
        return JumpSchedule(
            self.steps, self.jump_length, self.resamplings, self.start_resampling,
            self.indices[cut:],
        )  # fmt: skip


def validate_schedule_parameters(
    steps: int, jump_length: int, resamplings: int, start_resampling: int | None = None
) -> None:
    """Raise ScheduleError with a user-facing message if the parameters cannot form a schedule."""
    if not 1 <= steps <= MAX_STEPS:
        raise ScheduleError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    if resamplings < 1:
        raise ScheduleError(f"resamplings (jump_n_sample) must be at least 1, got {resamplings}")
    if jump_length < 1:
        raise ScheduleError(f"jump length must be at least 1, got {jump_length}")
    if jump_length >= steps:
        raise ScheduleError(
            f"jump length ({jump_length}) must be smaller than steps ({steps}); "
            "use a shorter jump length or more steps"
        )
    if start_resampling is not None and start_resampling < 0:
        raise ScheduleError(f"start_resampling must be >= 0, got {start_resampling}")


def jump_schedule(
    steps: int, jump_length: int, resamplings: int, start_resampling: int | None = None
) -> JumpSchedule:
    """Build RePaint's jump schedule over ``steps`` respaced indices.

    At every jump point ``p`` in ``range(0, steps - jump_length, jump_length)`` (only points below
    ``start_resampling`` when it is given), the first ``resamplings - 1`` arrivals on the way down
    go back up ``jump_length`` indices one at a time, then come down again.
    """
    validate_schedule_parameters(steps, jump_length, resamplings, start_resampling)
    limit = (
        steps - jump_length
        if start_resampling is None
        else min(steps - jump_length, start_resampling)
    )
    jumps_left = {point: resamplings - 1 for point in range(0, max(limit, 0), jump_length)}
    t = steps - 1
    indices = [t]
    while t >= 0:
        t -= 1
        indices.append(t)
        if jumps_left.get(t, 0) > 0:
            jumps_left[t] -= 1
            for _ in range(jump_length):
                t += 1
                indices.append(t)
    schedule = JumpSchedule(steps, jump_length, resamplings, start_resampling, tuple(indices))
    check_schedule(schedule)
    return schedule


def check_schedule(schedule: JumpSchedule) -> None:
    """Check the invariants every consumer relies on; raise ScheduleError if one fails."""
    indices = schedule.indices
    if indices[0] != schedule.steps - 1 or indices[-1] != -1:
        raise ScheduleError(f"schedule must run from {schedule.steps - 1} to -1")
    check_walk(schedule)


def check_walk(schedule: JumpSchedule) -> None:
    """The invariants of any walk, whole or cut: +-1 moves inside the range, ending at -1."""
    indices = schedule.indices
    if indices[-1] != -1:
        raise ScheduleError("schedule must end at -1")
    if any(abs(b - a) != 1 for a, b in schedule.moves()):
        raise ScheduleError("every schedule move must be +-1")
    if min(indices[:-1]) < 0 or max(indices) > schedule.steps - 1:
        raise ScheduleError("schedule leaves the index range")


def expected_model_calls(
    steps: int, jump_length: int, resamplings: int, start_resampling: int | None = None
) -> int:
    """Closed form of the model-call count: T + (r - 1) * j * (number of jump points)."""
    limit = (
        steps - jump_length
        if start_resampling is None
        else min(steps - jump_length, start_resampling)
    )
    points = len(range(0, max(limit, 0), jump_length))
    return steps + (resamplings - 1) * jump_length * points


def linear_betas(training_steps: int = 1000, start: float = 1e-4, end: float = 0.02) -> np.ndarray:
    """The DDPM paper's linear schedule (float64)."""
    return np.linspace(start, end, training_steps, dtype=np.float64)


def cosine_betas(training_steps: int, max_beta: float = 0.999) -> np.ndarray:
    """The improved-DDPM cosine schedule (diffusers' ``squaredcos_cap_v2``)."""

    def alpha_bar(u: float) -> float:
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    return np.array(
        [
            min(1 - alpha_bar((i + 1) / training_steps) / alpha_bar(i / training_steps), max_beta)
            for i in range(training_steps)
        ],
        dtype=np.float64,
    )


def respaced_timesteps(training_steps: int, steps: int) -> np.ndarray:
    """Evenly spaced original timesteps, always including 0 and training_steps - 1."""
    if steps > training_steps:
        raise ScheduleError(
            f"steps ({steps}) cannot exceed the model's training steps ({training_steps})"
        )
    if steps == 1:
        return np.array([training_steps - 1], dtype=np.int64)
    stride = (training_steps - 1) / (steps - 1)
    return np.array([round(i * stride) for i in range(steps)], dtype=np.int64)


@dataclass(frozen=True)
class DiffusionTables:
    """Per-index coefficients of the respaced process, as plain Python floats.

    Python floats keep the sampler free of host-device syncs: multiplying a tensor by a float
    never reads back from the GPU.
    """

    timesteps: tuple[int, ...]  # original training timestep of each respaced index
    alphas_cumprod: tuple[float, ...]
    alphas_cumprod_prev: tuple[float, ...]
    betas: tuple[float, ...]
    posterior_variance: tuple[float, ...]
    posterior_log_variance_clipped: tuple[float, ...]

    @property
    def steps(self) -> int:
        return len(self.timesteps)


def diffusion_tables(training_betas: np.ndarray, steps: int) -> DiffusionTables:
    """Respace a training schedule to ``steps`` indices (betas_i = 1 - abar_i / abar_prev)."""
    training_abar = np.cumprod(1.0 - np.asarray(training_betas, dtype=np.float64))
    timesteps = respaced_timesteps(len(training_abar), steps)
    abar = training_abar[timesteps]
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    betas = 1.0 - abar / abar_prev
    posterior_variance = betas * (1.0 - abar_prev) / (1.0 - abar)
    # The variance at index 0 is 0; guided-diffusion clips its log to the value at index 1.
    clip_source = posterior_variance[1] if steps > 1 else betas[0]
    log_variance = np.log(np.concatenate([[clip_source], posterior_variance[1:]]))
    return DiffusionTables(
        timesteps=tuple(int(t) for t in timesteps),
        alphas_cumprod=tuple(abar.tolist()),
        alphas_cumprod_prev=tuple(abar_prev.tolist()),
        betas=tuple(betas.tolist()),
        posterior_variance=tuple(posterior_variance.tolist()),
        posterior_log_variance_clipped=tuple(log_variance.tolist()),
    )
