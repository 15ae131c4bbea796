"""The preview store: at most one estimate copy per interval, PNG made once per estimate and
composited like the result, nothing left once the job is dropped; and the engine's steps."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from repaint_fill_backend.engine import Engine, FillRequest
from repaint_fill_backend.estimates import Estimate, FillStep
from repaint_fill_backend.imaging import Rect
from repaint_fill_backend.presets import resolve_settings
from repaint_fill_backend.server.previews import PreviewStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _request(width: int = 12, height: int = 10) -> FillRequest:
    image = Image.new("RGB", (width, height), (10, 20, 30))
    coverage = np.zeros((height, width), dtype=np.uint8)
    coverage[2:8, 3:9] = 200
    return FillRequest(image, coverage, resolve_settings("fast"))


def _step(copies: list[int], value: float) -> FillStep:
    def take() -> Estimate:
        copies.append(1)
        return Estimate(Rect(3, 2, 6, 6), torch.full((3, 4, 4), value))

    return FillStep(step=1, total=9, eta_seconds=1.0, index=0, x0_preview=None, estimate=take)


def test_one_copy_per_interval_and_a_result_shaped_png() -> None:
    clock, copies, request = Clock(), [], _request()
    store = PreviewStore(interval=1.0, clock=clock)
    assert store.png("job") is None and store.number("job") == 0
    store.offer("job", request, _step(copies, 1.0))  # white
    store.offer("job", request, _step(copies, -1.0))  # within the interval: not copied
    assert len(copies) == 1 and store.number("job") == 1
    png, number = store.png("job")
    assert number == 1 and store.png("job") == (png, 1)  # made once, then served again
    rgba = np.asarray(Image.open(io.BytesIO(png)))
    assert rgba.shape == (10, 12, 4) and np.array_equal(rgba[..., 3], request.coverage)
    assert (rgba[2:8, 3:9, :3] == 255).all() and (rgba[0, 0, :3] == (10, 20, 30)).all()
    clock.now = 1.0
    store.offer("job", request, _step(copies, -1.0))  # black, one interval later
    png, number = store.png("job")
    assert number == 2 and (np.asarray(Image.open(io.BytesIO(png)))[2:8, 3:9, :3] == 0).all()
    store.drop("job")
    assert store.png("job") is None and store.number("job") == 0


def test_steps_without_an_estimate_are_ignored() -> None:
    store = PreviewStore(interval=0.0)
    plain = FillStep(step=1, total=2, eta_seconds=0.0, index=0, x0_preview=None)
    store.offer("job", _request(), plain)
    assert store.number("job") == 0


def test_engine_steps_carry_an_estimate_of_the_crop() -> None:
    class Model:  # the engine's model interface with a lambda denoiser (no weights needed)
        device, dtype, native_size, stride, name = torch.device("cpu"), torch.float32, 8, 4, "t"
        variance_type = "fixed_small"
        training_betas = torch.linspace(1e-4, 0.02, 100, dtype=torch.float64)

        @staticmethod
        def denoiser(x, _t):
            from repaint_fill_backend.denoiser import Prediction

            return Prediction(eps=torch.zeros_like(x))

    estimates = []
    Engine(Model()).fill(_request(), lambda info: estimates.append(info.estimate()))
    assert estimates and all(e.crop == estimates[0].crop for e in estimates)
    assert estimates[-1].crop_fill().shape == (estimates[0].crop.height, estimates[0].crop.width, 3)
