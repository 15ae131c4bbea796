"""A time budget: measure one model call here, pick the best schedule that fits.

"Best" comes from the quality-per-model-call curve that ``repaint-fill bench`` measures for the
embedded model and stores next to this module (quality_curve.json): the lowest texture distance
(SWD) among the schedules whose estimated time fits the budget. The same curve serves every model:
which schedules are worth their calls is a property of the sampler more than of the weights.
Used by ``repaint-fill fill --budget`` and the server's ``budget`` job parameter, through the
fill service (service.py), which runs the measurement under the engine's lock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path

import torch

from .denoiser import LoadedModel
from .fill_plan import FillPlan
from .presets import SamplingSettings
from .schedule import ScheduleError, diffusion_tables

CURVE_FILE = "quality_curve.json"
# Per-step work besides the model (noise draws, the step's arithmetic, the seam harmonisation:
# +12% on a 1024 px photo's fill, measured on this 2-core CPU) and the two measuring calls; the
# margin keeps a contended machine inside the budget.
SAMPLER_OVERHEAD = 1.15
MEASURING_CALLS = 2
DEFAULT_MARGIN = 0.9
MAX_BUDGET_SECONDS = 24 * 3600.0

Clock = Callable[[], float]


@dataclass(frozen=True)
class CurvePoint:
    """One measured schedule: its settings, its cost in model calls and its quality (lower SWD
    = closer to the ground truth's texture)."""

    settings: SamplingSettings
    model_calls: int
    swd: float


@dataclass(frozen=True)
class BudgetChoice:
    """What the budget picked and why; ``fits`` is False when even the cheapest is too slow."""

    budget_seconds: float
    seconds_per_call: float
    settings: SamplingSettings
    model_calls: int
    estimated_seconds: float
    fits: bool
    levels_dropped: int = 0  # finest refinement levels left out so the fill fits

    def summary(self) -> str:
        """One line for the user: what the budget picked and why."""
        s = self.settings
        picked = f"T={s.steps} j={s.jump_length} r={s.jump_n_sample}"
        if s.start_resampling is not None:
            picked += f" start_resampling={s.start_resampling}"
        if s.reverse_step == "ddim":
            picked += f" ddim(eta={s.eta:g})"
        line = (
            f"budget {self.budget_seconds:g} s: one model call takes {self.seconds_per_call:.3f} s "
            f"here -> {picked} ({self.model_calls} calls, ~{self.estimated_seconds:.0f} s)"
        )
        if self.levels_dropped:
            line += f"; {self.levels_dropped} finest detail level(s) left out to fit"
        if not self.fits:
            line += "; even the cheapest schedule does not fit, using it anyway"
        return line

    def report(self) -> dict:
        return {
            "budget_seconds": self.budget_seconds,
            "seconds_per_call": round(self.seconds_per_call, 4),
            "picked": asdict(self.settings),
            "model_calls": self.model_calls,
            "estimated_seconds": round(self.estimated_seconds, 2),
            "fits": self.fits,
            "levels_dropped": self.levels_dropped,
        }


def curve_path() -> Path:
    return Path(str(resources.files("repaint_fill_backend") / CURVE_FILE))


def load_curve(path: Path | None = None) -> list[CurvePoint]:
    """The stored quality curve (written by ``repaint-fill bench``)."""
    source = path or curve_path()
    if not source.is_file():
        raise ScheduleError(f"no quality curve at {source}; reinstall or run `repaint-fill bench`")
    entries = json.loads(source.read_text())["points"]
    return [
        CurvePoint(
            SamplingSettings(**entry["settings"]), int(entry["model_calls"]), float(entry["swd"])
        )
        for entry in entries
    ]


def estimate_seconds(model_calls: float, seconds_per_call: float) -> float:
    return (model_calls * SAMPLER_OVERHEAD + MEASURING_CALLS) * seconds_per_call


def native_call_equivalents(plan: FillPlan, native_size: int) -> float:
    """The plan's model calls weighted by the pixels of each call over a native-size call (the
    cost of a convolutional UNet grows with its input's pixels)."""
    total = 0.0
    for region in plan.regions:
        for level in region.levels:
            if level.tiles:
                tile = level.tiles[0]
                total += level.model_calls * tile.width * tile.height / native_size**2
    return total


CallsOf = Callable[[CurvePoint], tuple[int, float]]


def choose_schedule(
    curve: Sequence[CurvePoint],
    seconds_per_call: float,
    budget_seconds: float,
    margin: float = DEFAULT_MARGIN,
    max_model_calls: int | None = None,
    calls_of: CallsOf | None = None,
) -> BudgetChoice:
    """The lowest-SWD point whose estimated time fits ``margin * budget``; ties go to fewer calls.

    ``calls_of(point)`` gives (model calls, native-call equivalents) of a whole fill with that
    point's schedule (levels and tiles included); by default a point costs its schedule's calls.

    Schedules that resample (r > 1) come first when any of them fits: the paper's ablation shows
    resampling is what harmonises the fill with its context, and that the same calls spent on
    plain steps do not help; an SWD over a few samples is too noisy to show that difference.
    When nothing fits, the cheapest point is returned with ``fits=False`` (the caller says so).
    Points dearer than ``max_model_calls`` (a server's limit) are never considered.
    """
    if budget_seconds <= 0:
        raise ScheduleError(f"the time budget must be positive, got {budget_seconds}")
    if not curve:
        raise ScheduleError("no quality curve to choose from; run `repaint-fill bench`")
    cost = calls_of or (lambda point: (point.model_calls, float(point.model_calls)))
    costs = {id(point): cost(point) for point in curve}
    if max_model_calls is not None:
        curve = [p for p in curve if costs[id(p)][0] <= max_model_calls]
        if not curve:
            raise ScheduleError(
                f"every schedule on the quality curve needs more than {max_model_calls} model "
                "calls, the most this job may make; ask for fewer variations"
            )
    limit = budget_seconds * margin
    fitting = [p for p in curve if estimate_seconds(costs[id(p)][1], seconds_per_call) <= limit]
    if fitting:
        resampling = [p for p in fitting if p.settings.jump_n_sample > 1]
        best = min(resampling or fitting, key=lambda p: (p.swd, p.model_calls))
        fits = True
    else:
        best, fits = min(curve, key=lambda p: costs[id(p)][1]), False
    calls, equivalents = costs[id(best)]
    return BudgetChoice(
        budget_seconds,
        seconds_per_call,
        best.settings,
        calls,
        estimate_seconds(equivalents, seconds_per_call),
        fits,
    )


def measure_seconds_per_call(
    model: LoadedModel, size: tuple[int, int], batch: int, clock: Clock = time.perf_counter
) -> float:
    """Time one denoiser call at (batch, C, h, w) on the model's device, after a warm-up call."""
    width, height = size
    x = torch.zeros(batch, model.in_channels, height, width, device=model.device)
    timestep = diffusion_tables(model.training_betas, 2).timesteps[-1]
    t = torch.full((batch,), timestep, device=model.device)
    with torch.inference_mode():
        model.denoiser(x, t)  # warm-up: kernel selection, caches
        _synchronize(model.device)
        started = clock()
        model.denoiser(x, t)
        _synchronize(model.device)
        return max(clock() - started, 1e-9)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def choose_for_plan(
    model: LoadedModel,
    base: FillPlan,
    variations: int,
    budget_seconds: float,
    *,
    max_model_calls: int | None = None,
    clock: Clock = time.perf_counter,
    curve: Sequence[CurvePoint] | None = None,
) -> BudgetChoice:
    """Measure a native-size call at the job's batch, then choose schedule and levels.

    ``base`` is the fill's plan with every level (planned once: 0.15 s at 12 MP; each curve
    point and depth re-costs it). Native detail first: the full plan with the best resampling
    schedule that fits; when none fits with every level, the finest levels are left out one at
    a time (reported as ``levels_dropped``); schedules without resampling come last.
    ``max_model_calls`` (per image, as the server sets it) counts every call of the plan.
    The measuring calls run the model: call this where the fill itself would run (the service
    holds the engine's lock).
    """
    if budget_seconds <= 0:
        raise ScheduleError(f"the time budget must be positive, got {budget_seconds}")
    native = model.native_size
    seconds_per_call = measure_seconds_per_call(model, (native, native), variations, clock)
    points = list(curve if curve is not None else load_curve())
    resampling = [point for point in points if point.settings.jump_n_sample > 1]
    # Resampling harmonises a fill with its context (the paper's ablation): it is kept before
    # detail levels, and detail levels before schedules without it.
    passes = [resampling, points] if resampling else [points]
    choice = None
    for candidates, dropped in ((c, d) for c in passes for d in range(base.depth)):

        def calls_of(point: CurvePoint, dropped: int = dropped) -> tuple[int, float]:
            plan = base.with_settings(point.settings).without_finest(dropped)
            return plan.model_calls, native_call_equivalents(plan, native)

        choice = replace(
            choose_schedule(candidates, seconds_per_call, budget_seconds,
                            max_model_calls=max_model_calls, calls_of=calls_of),
            levels_dropped=dropped,
        )  # fmt: skip
        if choice.fits:
            return choice
    assert choice is not None  # depth >= 1
    return choice


def chosen_plan(base: FillPlan, choice: BudgetChoice) -> FillPlan:
    """The plan the budget's choice runs: ``base`` under its schedule, levels left out."""
    return base.with_settings(choice.settings).without_finest(choice.levels_dropped)


def check_budget_arguments(
    budget: float | None, spell: Callable[[str], str] | None = None, **explicit: object
) -> None:
    """A budget chooses the schedule itself: refuse it together with explicit schedule options.

    ``spell`` names an option for the message (default: a command-line flag, ``--jump-length``).
    """
    name = spell or (lambda option: "--" + option.replace("_", "-"))
    if budget is not None and budget <= 0:
        raise ScheduleError(
            f"{name('budget')} must be a positive number of seconds, got {budget:g}"
        )
    given = [option for option, value in explicit.items() if value is not None]
    if budget is not None and given:
        options = ", ".join(name(option) for option in given)
        raise ScheduleError(
            f"{name('budget')} chooses the schedule itself; drop {options} or {name('budget')}"
        )
