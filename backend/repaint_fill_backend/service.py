"""One fill as the CLI and the server's worker both run it: checked request -> plan -> time
budget -> fill -> typed report.

The caller resolves the settings (command line or job parameters) and checks the request once
with ``check_request``, before any model is loaded. ``fill`` plans once and does everything that
runs the model, the time budget's measuring calls included, under the engine's lock, so a
measurement never shares the device with another job's fill.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from .budget import BudgetChoice, Clock, choose_for_plan, chosen_plan
from .engine import (
    Engine,
    FillRequest,
    FillResult,
    PreviewCallback,
    plan_for_geometry,
    validate_request,
)
from .exceptions import TooMuchWork
from .fill_plan import FillPlan, ModelGeometry
from .regions import Rect
from .sampler import StepCallback


@dataclass(frozen=True)
class CheckedRequest:
    """A request that passed ``validate_request`` (sizes, mask, seed, variations, detail)."""

    request: FillRequest
    bbox: Rect  # the mask's bounding box


def check_request(request: FillRequest) -> CheckedRequest:
    """Validate ``request`` once; raises ImageInputError with what to change."""
    return CheckedRequest(request, validate_request(request))


@dataclass(frozen=True)
class EarlyPlan:
    """A plan made before the model was at hand (the server plans at submit to count a job's
    calls), with the geometry it was made for: the fill reuses it on a model of that geometry."""

    geometry: ModelGeometry
    plan: FillPlan


def plan_early(geometry: ModelGeometry, checked: CheckedRequest) -> EarlyPlan:
    return EarlyPlan(geometry, plan_for_geometry(geometry, checked.request))


@dataclass(frozen=True)
class FillOutcome:
    """A finished fill: the result (fills + report), the request as run, the budget's choice."""

    result: FillResult
    request: FillRequest  # with a budget: its settings and levels
    budget: BudgetChoice | None = None


def fill(
    engine: Engine,
    checked: CheckedRequest,
    *,
    budget_seconds: float | None = None,
    max_model_calls: int | None = None,
    callback: StepCallback | None = None,
    on_preview: PreviewCallback | None = None,
    on_budget: Callable[[BudgetChoice], None] | None = None,
    early: EarlyPlan | None = None,
    clock: Clock = time.perf_counter,
) -> FillOutcome:
    """Plan, apply the time budget if any, and fill, all under the engine's lock.

    ``max_model_calls`` (a server's limit, all variations together) bounds the plan's exact
    calls: a budget chooses within it, a fixed schedule beyond it raises TooMuchWork.
    ``on_budget`` hears the budget's choice before the first call of the fill. ``early``: the
    plan made for ``checked`` before, used when it was made for this engine's geometry.
    """
    request = checked.request
    with engine.session() as model:
        if early is not None and early.geometry == engine.geometry:
            plan = early.plan
        else:
            plan = engine.plan(request)
        choice = None
        if budget_seconds is not None:
            per_image = None if max_model_calls is None else max_model_calls // request.variations
            choice = choose_for_plan(model, plan, request.variations, budget_seconds,
                                     max_model_calls=per_image, clock=clock)  # fmt: skip
            plan = chosen_plan(plan, choice)
            request = replace(request, settings=choice.settings, drop_levels=choice.levels_dropped)
            if on_budget is not None:
                on_budget(choice)
        elif max_model_calls is not None:
            check_work(plan, request.variations, max_model_calls)
        result = engine.run_plan(request, plan, callback, on_preview)
    return FillOutcome(result, request, choice)


def check_work(plan: FillPlan, variations: int, max_model_calls: int) -> None:
    """Raise TooMuchWork when the plan's exact calls (all regions, levels and tiles) times the
    variations exceed the limit."""
    work = plan.model_calls * variations
    if work > max_model_calls:
        raise TooMuchWork(
            f"this job needs {work} model calls (regions x levels x tiles x steps x resamplings "
            f"x variations); the server allows {max_model_calls}: use fewer steps, resamplings "
            "or variations, a smaller selection, or detail coarse"
        )
