"""Jump schedules and respaced coefficients: exact counts, invariants, user-facing errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from repaint_fill_backend.schedule import (
    ScheduleError,
    diffusion_tables,
    expected_model_calls,
    jump_schedule,
    linear_betas,
    respaced_timesteps,
)


@pytest.mark.parametrize(
    ("steps", "jump", "resamplings", "start", "calls"),
    [
        (250, 10, 10, None, 2410),
        (250, 10, 1, None, 250),
        (100, 5, 5, None, 480),
        (50, 5, 5, None, 230),
        (25, 5, 3, None, 65),
        (25, 5, 5, None, 105),
        (100, 10, 10, None, 910),
        (250, 10, 10, 100, 1150),
    ],
)
def test_model_calls_match_the_paper(steps, jump, resamplings, start, calls):
    assert jump_schedule(steps, jump, resamplings, start_resampling=start).model_calls == calls


@given(
    steps=st.integers(2, 60),
    jump=st.integers(1, 59),
    resamplings=st.integers(1, 6),
    start=st.one_of(st.none(), st.integers(0, 60)),
)
def test_schedule_invariants(steps, jump, resamplings, start):
    if jump >= steps:
        with pytest.raises(ScheduleError):
            jump_schedule(steps, jump, resamplings, start)
        return
    schedule = jump_schedule(steps, jump, resamplings, start)
    indices = schedule.indices
    assert indices[0] == steps - 1 and indices[-1] == -1
    assert all(abs(b - a) == 1 for a, b in zip(indices, indices[1:]))
    assert min(indices[:-1]) >= 0 and max(indices) == steps - 1
    assert schedule.model_calls == expected_model_calls(steps, jump, resamplings, start)
    # every index is denoised at least once and -1 is reached exactly once, at the end
    downward_from = {a for a, b in schedule.moves() if b < a}
    assert downward_from == set(range(steps))
    assert indices.count(-1) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10, 10, 2), "jump length"),
        ((10, 20, 1), "jump length"),
        ((10, 2, 0), "at least 1"),
        ((1001, 10, 1), "between 1 and 1000"),
        ((0, 1, 1), "between 1 and 1000"),
    ],
)
def test_bad_parameters_say_what_is_wrong(args, message):
    with pytest.raises(ScheduleError, match=message):
        jump_schedule(*args)


def test_respacing_keeps_both_ends_and_original_timesteps():
    timesteps = respaced_timesteps(1000, 250)
    assert timesteps[0] == 0 and timesteps[-1] == 999 and len(set(timesteps)) == 250
    tables = diffusion_tables(linear_betas(), 250)
    training_abar = np.cumprod(1 - linear_betas())
    np.testing.assert_allclose(tables.alphas_cumprod, training_abar[timesteps], rtol=1e-12)
    # respaced betas reproduce the same alpha-bar chain: 1 - beta_i = abar_i / abar_{i-1}
    np.testing.assert_allclose(np.cumprod(1 - np.array(tables.betas)), tables.alphas_cumprod)
    assert all(0 < b < 1 for b in tables.betas)
    assert tables.timesteps == tuple(int(t) for t in timesteps)


def test_full_length_respacing_is_the_training_schedule():
    tables = diffusion_tables(linear_betas(), 1000)
    np.testing.assert_allclose(tables.betas, linear_betas(), rtol=1e-9)
