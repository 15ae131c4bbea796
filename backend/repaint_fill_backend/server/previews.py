"""Previews of running jobs: the latest estimate of each, at most one new one per interval.

The engine hands the worker a crop-sized picture every few sampler steps (``service.fill``'s
``on_preview``); the store keeps the latest (a reference, no copy) if the last one is
``interval`` seconds old. The PNG is made when a client asks, in the request's thread, once per
picture, composited exactly like the job's result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..engine import FillRequest, FillResult
from ..regions import Rect
from .results import result_png

PREVIEW_INTERVAL_SECONDS = 1.0


@dataclass
class _Latest:
    request: FillRequest
    taken_at: float
    number: int = 0
    estimate: FillResult | None = None  # the picture as a one-variation result of its crop
    png: bytes | None = None
    png_number: int = 0


class PreviewStore:
    """Latest estimate per running job; thread-safe (worker offers, request threads read)."""

    def __init__(
        self,
        interval: float = PREVIEW_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: dict[str, _Latest] = {}

    def offer(self, job_id: str, request: FillRequest, crop: Rect, picture: np.ndarray) -> None:
        """Keep this picture of ``crop`` if the last one is ``interval`` seconds old (worker)."""
        now = self._clock()
        estimate = FillResult(crop=crop, fills=[picture])
        with self._lock:
            latest = self._latest.get(job_id)
            if latest is not None and now - latest.taken_at < self.interval:
                return
            latest = self._latest.setdefault(job_id, _Latest(request, now))
            latest.number, latest.estimate, latest.taken_at = latest.number + 1, estimate, now

    def number(self, job_id: str) -> int:
        """How many previews the job has had (0 = none yet): a new number = a newer picture."""
        with self._lock:
            latest = self._latest.get(job_id)
            return latest.number if latest is not None else 0

    def png(self, job_id: str) -> tuple[bytes, int] | None:
        """(the latest preview as the result's PNG, its number), None before the first one."""
        with self._lock:
            latest = self._latest.get(job_id)
            if latest is None or latest.estimate is None:
                return None
            if latest.png is not None and latest.png_number == latest.number:
                return latest.png, latest.number
            request, estimate, number = latest.request, latest.estimate, latest.number
        png = result_png(request, estimate, 0)
        with self._lock:
            current = self._latest.get(job_id)
            if current is not None and current.number == number:
                current.png, current.png_number = png, number
        return png, number

    def drop(self, job_id: str) -> None:
        """Forget the job's preview (its job has ended)."""
        with self._lock:
            self._latest.pop(job_id, None)
