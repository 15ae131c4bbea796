"""The preview store: at most one picture per interval, PNG made once per picture and
composited like the result, nothing left once the job is dropped."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from repaint_fill_backend.engine import FillRequest
from repaint_fill_backend.presets import resolve_settings
from repaint_fill_backend.regions import Rect
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


CROP = Rect(3, 2, 6, 6)


def _picture(value: int) -> np.ndarray:
    return np.full((6, 6, 3), value, dtype=np.uint8)


def test_one_picture_per_interval_and_a_result_shaped_png() -> None:
    clock, request = Clock(), _request()
    store = PreviewStore(interval=1.0, clock=clock)
    assert store.png("job") is None and store.number("job") == 0
    store.offer("job", request, CROP, _picture(255))  # white
    store.offer("job", request, CROP, _picture(0))  # within the interval: not kept
    assert store.number("job") == 1
    png, number = store.png("job")
    assert number == 1 and store.png("job") == (png, 1)  # made once, then served again
    rgba = np.asarray(Image.open(io.BytesIO(png)))
    assert rgba.shape == (10, 12, 4) and np.array_equal(rgba[..., 3], request.coverage)
    assert (rgba[2:8, 3:9, :3] == 255).all() and (rgba[0, 0, :3] == (10, 20, 30)).all()
    clock.now = 1.0
    store.offer("job", request, CROP, _picture(0))  # black, one interval later
    png, number = store.png("job")
    assert number == 2 and (np.asarray(Image.open(io.BytesIO(png)))[2:8, 3:9, :3] == 0).all()
    store.drop("job")
    assert store.png("job") is None and store.number("job") == 0
