"""A time budget: measure one model call here, pick the best schedule that fits.

"Best" comes from the quality-per-model-call curve that ``repaint-fill bench`` measures for the
embedded model and stores next to this module (curve.json): the lowest texture distance (SWD)
among the schedules whose estimated time fits the budget. Only torch and the standard library are
used here: the server and the CLI import it without the [bench] extras.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path

import torch

from ..denoiser import LoadedModel
from ..imaging import fill_working_size, mask_bbox, plan_crop
from ..presets import SamplingSettings
from ..schedule import ScheduleError, diffusion_tables

CURVE_FILE = "curve.json"
# Per-step work besides the model (noise draws, the step's arithmetic) and the two measuring
# calls are small but not zero; the margin keeps a contended machine inside the budget.
SAMPLER_OVERHEAD = 1.05
MEASURING_CALLS = 2
DEFAULT_MARGIN = 0.9

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
        }


def curve_path() -> Path:
    return Path(str(resources.files("repaint_fill_backend.bench") / CURVE_FILE))


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


def estimate_seconds(model_calls: int, seconds_per_call: float) -> float:
    return (model_calls * SAMPLER_OVERHEAD + MEASURING_CALLS) * seconds_per_call


def choose_schedule(
    curve: Sequence[CurvePoint],
    seconds_per_call: float,
    budget_seconds: float,
    margin: float = DEFAULT_MARGIN,
) -> BudgetChoice:
    """The lowest-SWD point whose estimated time fits ``margin * budget``; ties go to fewer calls.

    When nothing fits, the cheapest point is returned with ``fits=False`` (the caller says so).
    """
    if budget_seconds <= 0:
        raise ScheduleError(f"the time budget must be positive, got {budget_seconds}")
    if not curve:
        raise ScheduleError("no quality curve to choose from; run `repaint-fill bench`")
    limit = budget_seconds * margin
    fitting = [p for p in curve if estimate_seconds(p.model_calls, seconds_per_call) <= limit]
    if fitting:
        best, fits = min(fitting, key=lambda p: (p.swd, p.model_calls)), True
    else:
        best, fits = min(curve, key=lambda p: p.model_calls), False
    return BudgetChoice(
        budget_seconds,
        seconds_per_call,
        best.settings,
        best.model_calls,
        estimate_seconds(best.model_calls, seconds_per_call),
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


def request_working_size(
    model: LoadedModel, coverage, image_size: tuple[int, int], margin: int | None
) -> tuple[int, int]:
    """The working size the engine will use for this mask (same crop plan, same scaling)."""
    bbox = mask_bbox(coverage)
    if bbox is None:
        raise ScheduleError("the mask is empty: nothing to budget for")
    crop = plan_crop(bbox, image_size, margin)
    return fill_working_size(coverage[crop.slices], model.native_size, model.stride)


def choose_for_request(
    model: LoadedModel,
    coverage,
    image_size: tuple[int, int],
    budget_seconds: float,
    *,
    variations: int = 1,
    context_margin: int | None = None,
    clock: Clock = time.perf_counter,
    curve: Sequence[CurvePoint] | None = None,
) -> BudgetChoice:
    """Measure a call at this request's working size and batch, then choose from the curve."""
    if budget_seconds <= 0:
        raise ScheduleError(f"the time budget must be positive, got {budget_seconds}")
    size = request_working_size(model, coverage, image_size, context_margin)
    seconds_per_call = measure_seconds_per_call(model, size, variations, clock)
    return choose_schedule(
        curve if curve is not None else load_curve(), seconds_per_call, budget_seconds
    )


def check_budget_arguments(budget: float | None, **explicit: object) -> None:
    """A budget chooses the schedule itself: refuse it together with explicit schedule options."""
    if budget is not None and budget <= 0:
        raise ScheduleError(f"--budget must be a positive number of seconds, got {budget:g}")
    given = [name for name, value in explicit.items() if value is not None]
    if budget is not None and given:
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ScheduleError(f"--budget chooses the schedule itself; drop {options} or --budget")


def apply_budget(engine, request, budget_seconds: float, clock: Clock = time.perf_counter):
    """(request with the chosen settings, the choice) for an Engine and a FillRequest."""
    choice = choose_for_request(
        engine.model,
        request.coverage,
        request.image.size,
        budget_seconds,
        variations=request.variations,
        context_margin=request.context_margin,
        clock=clock,
    )
    return replace(request, settings=choice.settings), choice
