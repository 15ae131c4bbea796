"""The host's limits (repaint_fill_core.limits) stay inside what the backend accepts."""

import pytest
from repaint_fill_backend import choices, schedule
from repaint_fill_backend.budget import MAX_BUDGET_SECONDS
from repaint_fill_backend.server.schemas import MAX_CONTEXT_MARGIN, JobParams
from repaint_fill_core import limits
from repaint_fill_core.fill import FillOptions


def test_variations_agree_with_the_backend():
    assert limits.MAX_VARIATIONS == choices.MAX_VARIATIONS


def test_the_hosts_largest_seed_and_variations_are_a_valid_request():
    """Variation i uses seed + i: the host's largest seed with the most variations is accepted."""
    assert limits.MAX_WIDGET_SEED + limits.MAX_VARIATIONS <= choices.MAX_SEED
    options = FillOptions(
        seed=limits.MAX_WIDGET_SEED, variations=limits.MAX_VARIATIONS, budget=None
    )
    params = JobParams.model_validate(options.to_params())
    assert (params.seed, params.variations) == (limits.MAX_WIDGET_SEED, limits.MAX_VARIATIONS)


@pytest.mark.parametrize(
    ("host", "backend"),
    [
        (limits.MAX_CONTEXT_MARGIN, MAX_CONTEXT_MARGIN),
        (limits.MAX_STEPS, schedule.MAX_STEPS),
        (limits.MAX_TIME_BUDGET, MAX_BUDGET_SECONDS),
    ],
    ids=["context_margin", "steps", "time_budget"],
)
def test_the_hosts_controls_stay_inside_the_backends_limits(host, backend):
    assert 0 < host <= backend


def test_the_largest_controls_make_a_valid_request():
    options = FillOptions(
        seed=limits.MAX_WIDGET_SEED,
        variations=limits.MAX_VARIATIONS,
        context_margin=limits.MAX_CONTEXT_MARGIN,
        steps=limits.MAX_STEPS,
        jump_length=limits.MAX_STEPS,
    )
    JobParams.model_validate(options.to_params())
    JobParams.model_validate(FillOptions(budget=float(limits.MAX_TIME_BUDGET)).to_params())
