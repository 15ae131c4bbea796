"""The server's budget planning at submit time: the limit on model calls still holds."""

from pathlib import Path

import pytest
from repaint_fill_backend.budget import load_curve
from repaint_fill_backend.server.app import plan_budget
from repaint_fill_backend.server.errors import ApiError
from repaint_fill_backend.server.schemas import JobParams
from repaint_fill_backend.server.settings import ServerSettings

CHEAPEST = min(p.model_calls for p in load_curve())
DEAREST = max(p.model_calls for p in load_curve())


def settings(max_model_calls: int) -> ServerSettings:
    return ServerSettings("t", Path("token"), "embedded", max_model_calls=max_model_calls)


def test_no_budget_plans_nothing():
    assert plan_budget(settings(10_000), JobParams()) == (None, 0)


def test_budget_bounds_the_choice_by_the_servers_limit_per_variation():
    ask, upper_bound = plan_budget(settings(4 * CHEAPEST), JobParams(budget=60, variations=2))
    assert ask.seconds == 60 and ask.max_model_calls == 2 * CHEAPEST
    assert CHEAPEST <= upper_bound <= 2 * CHEAPEST
    _, generous = plan_budget(settings(100_000), JobParams(budget=60))
    assert generous == DEAREST


def test_budget_that_no_schedule_can_meet_within_the_limit_is_413():
    with pytest.raises(ApiError) as error:
        plan_budget(settings(CHEAPEST * 8 - 1), JobParams(budget=60, variations=8))
    assert error.value.status_code == 413 and "fewer variations" in error.value.detail
