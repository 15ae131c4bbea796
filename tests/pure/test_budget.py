"""The time budget's choice logic, with a fake clock and a lambda denoiser (no real timing)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from repaint_fill_backend.budget import (
    CurvePoint,
    check_budget_arguments,
    choose_for_plan,
    choose_schedule,
    estimate_seconds,
    load_curve,
    measure_seconds_per_call,
)
from repaint_fill_backend.denoiser import LoadedModel, Prediction
from repaint_fill_backend.engine import FillRequest, plan_request
from repaint_fill_backend.presets import PRESETS, SamplingSettings
from repaint_fill_backend.schedule import ScheduleError, linear_betas

CURVE = [
    CurvePoint(SamplingSettings(25, 5, 1), 25, swd=300.0),
    CurvePoint(SamplingSettings(25, 5, 3), 65, swd=250.0),
    CurvePoint(SamplingSettings(50, 5, 5), 230, swd=200.0),
    CurvePoint(SamplingSettings(50, 5, 5, reverse_step="ddim"), 230, swd=200.0),
    CurvePoint(SamplingSettings(100, 5, 5), 480, swd=210.0),  # worse and dearer: never picked
]


class FakeClock:
    """Time moves only when the fake model runs."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fake_model(clock: FakeClock, seconds_per_call: float, shapes: list) -> LoadedModel:
    def denoiser(x: torch.Tensor, t: torch.Tensor) -> Prediction:
        shapes.append(tuple(x.shape))
        clock.now += seconds_per_call
        return Prediction(torch.zeros_like(x))

    return LoadedModel(
        name="fake",
        denoiser=denoiser,
        training_betas=linear_betas(),
        native_size=64,
        stride=8,
        in_channels=3,
        device=torch.device("cpu"),
        dtype=torch.float32,
        parameters=0,
    )


def test_picks_lowest_swd_that_fits_and_prefers_fewer_calls_on_ties():
    # 0.1 s/call: 230 calls -> (230 * 1.15 + 2) * 0.1 = 26.65 s; fits 0.9 * 30 = 27 s
    choice = choose_schedule(CURVE, seconds_per_call=0.1, budget_seconds=30)
    assert choice.fits
    assert choice.settings == SamplingSettings(50, 5, 5)
    assert choice.model_calls == 230
    assert math.isclose(choice.estimated_seconds, estimate_seconds(230, 0.1))


def test_tighter_budget_picks_a_cheaper_schedule():
    choice = choose_schedule(CURVE, seconds_per_call=0.1, budget_seconds=10)
    assert choice.fits and choice.model_calls == 65
    assert choice.estimated_seconds <= 0.9 * 10


def test_budget_below_cheapest_returns_cheapest_and_says_it_does_not_fit():
    choice = choose_schedule(CURVE, seconds_per_call=1.0, budget_seconds=5)
    assert not choice.fits
    assert choice.model_calls == 25
    assert choice.report()["fits"] is False


def test_resampling_schedules_come_first_when_one_fits():
    plain_but_lower_swd = CurvePoint(SamplingSettings(50, 5, 1), 50, swd=100.0)
    curve = [*CURVE, plain_but_lower_swd]
    assert choose_schedule(curve, seconds_per_call=0.1, budget_seconds=30).model_calls == 230
    # Only when no resampling schedule fits does a plain one run.
    tight = choose_schedule(curve, seconds_per_call=0.1, budget_seconds=7.0)
    assert tight.fits and tight.settings.jump_n_sample == 1 and tight.model_calls == 50


def test_big_budget_never_picks_a_worse_dearer_point():
    choice = choose_schedule(CURVE, seconds_per_call=0.01, budget_seconds=1000)
    assert choice.model_calls == 230


@pytest.mark.parametrize("budget", [0, -1])
def test_non_positive_budget_is_a_user_error(budget):
    with pytest.raises(ScheduleError, match="positive"):
        choose_schedule(CURVE, 0.1, budget)


def test_measure_uses_warm_up_then_one_timed_call_on_the_injected_clock():
    clock, shapes = FakeClock(), []
    model = fake_model(clock, 0.25, shapes)
    assert measure_seconds_per_call(model, (48, 32), batch=2, clock=clock) == pytest.approx(0.25)
    assert shapes == [(2, 3, 32, 48)] * 2  # (N, C, h, w) from (w, h)


def budget_request(coverage: np.ndarray, variations: int = 1) -> FillRequest:
    image = Image.new("RGB", coverage.shape[::-1])
    return FillRequest(image, coverage, PRESETS["fast"], variations=variations)


def choose_for_request(model: LoadedModel, request: FillRequest, budget: float, **options):
    """The budget's choice for a request planned from scratch (as the fill service plans it)."""
    return choose_for_plan(model, plan_request(model, request), request.variations, budget,
                           **options)  # fmt: skip


def test_choose_for_request_measures_a_native_call_and_counts_the_whole_plan():
    clock, shapes = FakeClock(), []
    model = fake_model(clock, 0.5, shapes)  # native 64
    coverage = np.zeros((100, 200), np.uint8)
    coverage[40:60, 80:120] = 255  # 40x20 box -> crop 80x60 (margin 20): fits 1.5 x 64, 1 level
    choice = choose_for_request(model, budget_request(coverage), 40.0, clock=clock, curve=CURVE)
    assert shapes[-1] == (1, 3, 64, 64)
    assert choice.seconds_per_call == pytest.approx(0.5)
    # one 80x64 call = 1.25 native calls: (65 * 1.25 * 1.15 + 2) * 0.5 = 47.7 > 36 does not fit;
    # the 25-call schedule does (19.0 s)
    assert choice.model_calls == 25 and choice.fits
    roomy = choose_for_request(model, budget_request(coverage), 60.0, clock=clock, curve=CURVE)
    assert roomy.fits and roomy.model_calls == 65


def test_a_tight_budget_leaves_out_the_finest_levels_first():
    clock, shapes = FakeClock(), []
    model = fake_model(clock, 0.1, shapes)  # native 64: a 300x200 crop needs coarse + 1:1 tiles
    coverage = np.zeros((200, 300), np.uint8)
    coverage[50:150, 75:225] = 255
    request = budget_request(coverage)
    full = choose_for_request(model, request, 10_000.0, clock=clock, curve=CURVE)
    assert full.fits and full.levels_dropped == 0
    # coarse 64x40 (65 calls), then 128x88 and 1:1 windows on the hole (15 calls each):
    # all levels ~17 s, without the 1:1 level ~7.7 s, the coarse pass alone ~4.5 s
    tight = choose_for_request(model, request, 12.0, clock=clock, curve=CURVE)
    assert tight.fits and tight.levels_dropped == 1 and tight.model_calls == 80
    assert tight.estimated_seconds <= 12.0 * 0.9
    assert "1 finest detail level(s) left out" in tight.summary()
    tighter = choose_for_request(model, request, 6.0, clock=clock, curve=CURVE)
    assert tighter.levels_dropped == 2 and tighter.model_calls == 65  # the coarse pass only


def test_budget_together_with_explicit_schedule_options_is_refused():
    check_budget_arguments(10.0, steps=None, preset=None)
    check_budget_arguments(None, steps=50)
    with pytest.raises(ScheduleError, match="--steps"):
        check_budget_arguments(10.0, steps=50, preset=None)


def test_the_packaged_curve_loads_and_its_schedules_are_valid():
    curve = load_curve()
    assert curve
    for point in curve:
        assert point.settings.schedule().model_calls == point.model_calls
        assert math.isfinite(point.swd)
