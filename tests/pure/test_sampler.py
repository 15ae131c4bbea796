"""The RePaint sampler over lambda denoisers: seeds, batches, cancellation, the step maths."""

import numpy as np
import pytest
import torch
from repaint_fill_backend.denoiser import Prediction
from repaint_fill_backend.sampler import (
    DDIMStep,
    DDPMStep,
    FillCancelled,
    ddim_step,
    ddpm_step,
    jump_forward,
    noise_known_region,
    repaint,
)
from repaint_fill_backend.schedule import diffusion_tables, jump_schedule, linear_betas

SCHEDULE = jump_schedule(12, 3, 2)
TABLES = diffusion_tables(linear_betas(), 12)


def shrinking_denoiser(x, t):
    """A stand-in model: predicts a fixed fraction of its input as noise."""
    return Prediction(0.3 * x)


def inputs(batch=1, size=16):
    generator = torch.Generator().manual_seed(123)
    known = (torch.rand((1, 3, size, size), generator=generator) * 2 - 1).expand(batch, -1, -1, -1)
    keep_mask = torch.ones((1, 1, size, size))
    keep_mask[..., 4:12, 4:12] = 0
    return known, keep_mask


def run(seeds, denoiser=shrinking_denoiser, **kwargs):
    known, keep_mask = inputs(len(seeds))
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    return repaint(denoiser, known, keep_mask, SCHEDULE, TABLES, generators=generators, **kwargs)


def test_same_seed_same_output_and_different_seed_different_output():
    assert torch.equal(run([5]), run([5]))
    assert not torch.allclose(run([5]), run([6]))


def test_batch_of_k_equals_k_single_runs_with_the_same_seeds():
    batch = run([7, 8, 9])
    singles = torch.cat([run([7]), run([8]), run([9])])
    # identical noise streams; only batched kernels may differ in the last float bits
    torch.testing.assert_close(batch, singles, atol=1e-5, rtol=0)


def test_denoiser_is_called_once_per_model_call_with_original_timesteps():
    seen = []

    def recording(x, t):
        seen.append(int(t[0]))
        assert t.shape == (x.shape[0],)
        return Prediction(torch.zeros_like(x))

    run([1], recording)
    assert len(seen) == SCHEDULE.model_calls
    assert seen[0] == 999 and seen[-1] == 0
    assert set(seen) == set(TABLES.timesteps)


def test_callback_reports_progress_and_cancellation_stops_within_one_call():
    calls, steps = [], []

    def counting(x, t):
        calls.append(1)
        return Prediction(torch.zeros_like(x))

    def cancel_at_three(info):
        steps.append((info.step, info.total))
        assert info.eta_seconds >= 0
        if info.step == 3:
            raise FillCancelled("stop")

    with pytest.raises(FillCancelled):
        run([1], counting, callback=cancel_at_three)
    assert len(calls) == 3
    assert steps == [
        (1, SCHEDULE.model_calls),
        (2, SCHEDULE.model_calls),
        (3, SCHEDULE.model_calls),
    ]


def test_preview_is_the_x0_prediction_in_range():
    previews = []
    run([1], callback=lambda info: previews.append(info.x0_preview), preview=True)
    assert len(previews) == SCHEDULE.model_calls
    assert all(p is not None and p.abs().max() <= 1 for p in previews)


def test_known_region_is_noised_with_standard_deviation_not_variance():
    known = torch.zeros((1, 3, 256, 256))
    gen = [torch.Generator().manual_seed(0)]
    abar = 0.36  # std 0.8, variance 0.64: distinguishable
    noisy = noise_known_region(known, abar, gen)
    assert abs(noisy.std().item() - 0.8) < 0.01


def test_forward_jump_uses_beta_of_the_target_index():
    x = torch.zeros((1, 3, 256, 256))
    index = 5
    jumped = jump_forward(x, index, TABLES, [torch.Generator().manual_seed(0)])
    expected = TABLES.betas[index + 1] ** 0.5
    assert abs(jumped.std().item() - expected) < 0.02 * expected
    assert abs(jumped.std().item() - TABLES.betas[index] ** 0.5) > 0.05 * expected


def oracle_for(x0_true):
    """A denoiser that knows the clean image: returns the exact noise for every x_t."""
    index_of = {t: i for i, t in enumerate(TABLES.timesteps)}

    def oracle(x, t):
        abar = TABLES.alphas_cumprod[index_of[int(t[0])]]
        return Prediction((x - abar**0.5 * x0_true) / (1 - abar) ** 0.5)

    return oracle


@pytest.mark.parametrize(
    "step", [DDPMStep(), DDPMStep("fixed_large"), DDIMStep(0.0), DDIMStep(1.0)]
)
def test_a_perfect_denoiser_reconstructs_the_image(step):
    known, keep_mask = inputs()
    truth = known.clamp(-1, 1)
    out = repaint(
        oracle_for(truth),
        known,
        keep_mask,
        SCHEDULE,
        TABLES,
        generators=[torch.Generator().manual_seed(0)],
        reverse_step=step,
    )
    torch.testing.assert_close(out, truth, atol=1e-4, rtol=0)


def test_ddim_step_with_eta_zero_is_deterministic_and_ddpm_is_not():
    x_t = torch.randn((1, 3, 8, 8), generator=torch.Generator().manual_seed(1))
    prediction = Prediction(0.5 * x_t)
    outputs = [
        ddim_step(x_t, prediction, 6, TABLES, DDIMStep(0.0), [torch.Generator().manual_seed(s)])[0]
        for s in (1, 2)
    ]
    assert torch.equal(outputs[0], outputs[1])
    noisy = [
        ddpm_step(x_t, prediction, 6, TABLES, DDPMStep(), [torch.Generator().manual_seed(s)])[0]
        for s in (1, 2)
    ]
    assert not torch.equal(noisy[0], noisy[1])


def test_whole_run_with_ddim_eta_zero_and_nothing_known_is_deterministic_given_x_t():
    # with nothing known there is no fresh noise besides x_T, so the seed fixes the result
    schedule = jump_schedule(12, 3, 1)
    known = torch.zeros((1, 3, 8, 8))
    nothing_known = torch.zeros((1, 1, 8, 8))
    outs = [
        repaint(
            shrinking_denoiser,
            known,
            nothing_known,
            schedule,
            TABLES,
            generators=[torch.Generator().manual_seed(4)],
            reverse_step=DDIMStep(0.0),
        )
        for _ in range(2)
    ]
    assert torch.equal(*outs)


def test_learned_variance_changes_the_noise_scale():
    x_t = torch.zeros((1, 3, 64, 64))
    small = Prediction(torch.zeros_like(x_t), torch.zeros_like(x_t))
    large = Prediction(torch.zeros_like(x_t), torch.ones_like(x_t))
    gen = lambda: [torch.Generator().manual_seed(3)]  # noqa: E731
    index = 1
    out_small, _ = ddpm_step(x_t, small, index, TABLES, DDPMStep(), gen())
    out_large, _ = ddpm_step(x_t, large, index, TABLES, DDPMStep(), gen())
    ratio = out_large.std().item() / out_small.std().item()
    expected = (TABLES.betas[index] / TABLES.posterior_variance[index]) ** 0.5
    assert abs(ratio - expected) < 1e-3 * expected
    assert np.isfinite(ratio) and ratio > 1


@pytest.mark.parametrize("step", [DDPMStep(), DDIMStep(eta=0.0)])
def test_an_x0_correction_sees_every_estimate_and_the_walk_goes_on_from_it(step):
    """The engine's seam harmonisation hooks in here: called once per model call, and what it
    returns is the estimate the step uses (the last step returns the estimate itself)."""
    estimates = []

    def to_grey(x0):
        estimates.append(x0.clone())
        return torch.full_like(x0, 0.25)

    sample = run([5], correct_x0=to_grey, reverse_step=step)
    assert len(estimates) == SCHEDULE.model_calls
    assert torch.allclose(sample[..., 4:12, 4:12], torch.tensor(0.25), atol=1e-5)
    assert not torch.allclose(run([5], reverse_step=step)[..., 4:12, 4:12], torch.tensor(0.25))
