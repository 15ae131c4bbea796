"""Model loading and device logic. GPU paths are checked as logic on the CPU (no GPU here)."""

import numpy as np
import pytest
import torch
from helpers_backend import save_tiny_unet
from repaint_fill_backend.devices import DeviceError, choose_device, choose_dtype
from repaint_fill_backend.models import (
    ModelError,
    load_model,
    training_betas_from_config,
)


def test_half_precision_model_keeps_the_sampler_in_float32(tmp_path):
    # What a GPU run does with fp16; bf16 is the half type CPU kernels support.
    model = load_model(str(save_tiny_unet(tmp_path / "m")), torch.device("cpu"), torch.bfloat16)
    assert next(model.denoiser.unet.parameters()).dtype == torch.bfloat16
    x = torch.randn(2, 3, 32, 32)
    prediction = model.denoiser(x, torch.tensor([999, 999]))
    assert prediction.eps.dtype == torch.float32 and prediction.eps.shape == x.shape
    assert model.native_size == 32 and model.stride == 2 and model.variance_type == "fixed_small"


def test_learned_variance_model_returns_a_fraction(tmp_path):
    folder = save_tiny_unet(tmp_path / "m", learned_variance=True)
    model = load_model(str(folder), torch.device("cpu"), torch.float32)
    prediction = model.denoiser(torch.randn(1, 3, 32, 32), torch.tensor([10]))
    assert model.variance_type == "learned_range"
    assert prediction.variance_frac is not None and prediction.eps.shape == (1, 3, 32, 32)


def test_auto_dtype_is_half_on_gpus_and_bf16_only_on_cpus_with_bf16_units(monkeypatch):
    from repaint_fill_backend import devices

    assert devices.cpu_has_native_bf16("flags\t: fpu sse2 avx512f avx512_bf16 amx_tile\n")
    assert not devices.cpu_has_native_bf16("flags\t: fpu sse2 avx2 avx512f\n")
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert choose_dtype(torch.device("cpu")) == torch.float32
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert choose_dtype(torch.device("cpu")) == torch.bfloat16
    assert choose_dtype(torch.device("cuda")) == torch.float16
    assert choose_dtype(torch.device("mps")) == torch.float16
    assert choose_dtype(torch.device("cpu"), "bf16") == torch.bfloat16


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_asking_for_a_missing_gpu_is_an_error_not_a_silent_fallback():
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        choose_device("cuda")
    assert choose_device("auto").type in ("cpu", "mps")


def test_training_schedules_from_scheduler_configs():
    linear = training_betas_from_config({})
    assert len(linear) == 1000 and linear[0] == pytest.approx(1e-4) and linear[-1] == 0.02
    scaled = training_betas_from_config(
        {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}
    )
    assert scaled[0] == pytest.approx(0.00085) and scaled[-1] == pytest.approx(0.012)
    cosine = training_betas_from_config({"beta_schedule": "squaredcos_cap_v2"})
    assert np.all(np.diff(cosine) >= 0) and cosine.max() <= 0.999
    given = training_betas_from_config({"trained_betas": [0.1, 0.2]})
    assert given.tolist() == [0.1, 0.2]
    with pytest.raises(ModelError, match="unsupported beta schedule"):
        training_betas_from_config({"beta_schedule": "sigmoid"})


def test_a_folder_that_is_not_a_diffusers_model_says_what_is_expected(tmp_path):
    with pytest.raises(ModelError, match="model_index.json"):
        load_model(str(tmp_path), torch.device("cpu"), torch.float32)
