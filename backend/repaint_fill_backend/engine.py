"""One fill, end to end on arrays: crop, scale, sample, scale back. Used by the CLI and server.

The engine owns the loaded model (loaded once per process and kept warm) and nothing else.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from PIL import Image

from .denoiser import LoadedModel
from .devices import choose_device, choose_dtype, dtype_name
from .imaging import (
    ImageInputError,
    Rect,
    fill_working_size,
    from_model_tensor,
    mask_bbox,
    plan_crop,
    to_model_tensors,
    to_rgb8,
)
from .models import EMBEDDED, load_model
from .presets import SamplingSettings
from .sampler import FillCancelled, StepCallback, StepInfo, repaint
from .schedule import diffusion_tables

MAX_VARIATIONS = 8
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class FillRequest:
    """What to fill and how. ``coverage`` is (H, W) uint8, 255 = fill (the wire convention)."""

    image: Image.Image
    coverage: np.ndarray
    settings: SamplingSettings
    seed: int | None = None  # None = random; variation i uses seed + i
    variations: int = 1
    context_margin: int | None = None  # None = half the selection's longest side


@dataclass(frozen=True)
class FillResult:
    """The fills of one request: crop-sized RGB arrays, one per variation, and the run's report."""

    crop: Rect
    fills: list[np.ndarray]
    report: dict = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return list(self.report["seeds"])


def validate_request(request: FillRequest) -> Rect:
    """Check sizes, mask and variations; return the mask's bounding box."""
    if request.coverage.shape != (request.image.height, request.image.width):
        mask_h, mask_w = request.coverage.shape
        raise ImageInputError(
            f"mask is {mask_w}x{mask_h} but the image is {request.image.width}x"
            f"{request.image.height}; give a mask of the same size"
        )
    if not 1 <= request.variations <= MAX_VARIATIONS:
        raise ImageInputError(f"variations must be between 1 and {MAX_VARIATIONS}")
    if request.seed is not None and not 0 <= request.seed <= MAX_SEED - MAX_VARIATIONS:
        raise ImageInputError(f"seed must be between 0 and {MAX_SEED - MAX_VARIATIONS}")
    bbox = mask_bbox(request.coverage)
    if bbox is None:
        raise ImageInputError("the mask is empty: paint the region to fill in white (255)")
    return bbox


class Engine:
    """Holds one warm model and fills requests with it; one fill at a time (a lock guards it)."""

    def __init__(self, model: LoadedModel):
        self.model = model
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model: str = EMBEDDED, device: str = "auto", dtype: str = "auto") -> Engine:
        torch_device = choose_device(device)
        return cls(load_model(model, torch_device, choose_dtype(torch_device, dtype)))

    def fill(self, request: FillRequest, callback: StepCallback | None = None) -> FillResult:
        """Run RePaint on the request's crop; raises FillCancelled if the callback cancels."""
        bbox = validate_request(request)
        with self._lock, torch.inference_mode():
            return self._fill(request, bbox, callback)

    def _fill(self, request: FillRequest, bbox: Rect, callback: StepCallback | None) -> FillResult:
        started = time.perf_counter()
        model = self.model
        crop = plan_crop(bbox, request.image.size, request.context_margin)
        rgb = to_rgb8(request.image)[crop.slices]
        coverage = request.coverage[crop.slices]
        size = fill_working_size(coverage, model.native_size, model.stride)
        known, keep_mask = to_model_tensors(rgb, coverage, size)
        batch = request.variations
        known = known.to(model.device).expand(batch, -1, -1, -1).contiguous()
        keep_mask = keep_mask.to(model.device)
        base_seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        seeds = [base_seed + i for i in range(batch)]
        generators = [torch.Generator(device=model.device).manual_seed(s) for s in seeds]
        settings = request.settings
        schedule = settings.schedule()
        tables = diffusion_tables(model.training_betas, settings.steps)
        sample = repaint(
            model.denoiser,
            known,
            keep_mask,
            schedule,
            tables,
            generators=generators,
            reverse_step=settings.step_kind(model.variance_type),
            callback=callback,
        )
        fills = [from_model_tensor(item, (crop.width, crop.height)) for item in sample]
        report = {
            "model": model.name,
            "device": str(model.device),
            "dtype": dtype_name(model.dtype),
            **asdict(settings),
            "model_calls": schedule.model_calls,
            "seconds": round(time.perf_counter() - started, 3),
            "seeds": seeds,
            "variations": batch,
            "working_size": list(size),
            "crop": [crop.x, crop.y, crop.width, crop.height],
            "image_size": list(request.image.size),
        }
        return FillResult(crop=crop, fills=fills, report=report)


def cancellable(
    should_cancel: Callable[[], bool], on_step: StepCallback | None = None
) -> StepCallback:
    """A step callback that reports progress and raises FillCancelled once asked to stop."""

    def callback(info: StepInfo) -> None:
        if on_step is not None:
            on_step(info)
        if should_cancel():
            raise FillCancelled("the fill was cancelled")

    return callback
