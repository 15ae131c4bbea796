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
    return _bbox_or_error(request.coverage)


def _bbox_or_error(coverage: np.ndarray) -> Rect:
    bbox = mask_bbox(coverage)
    if bbox is None:
        raise ImageInputError("the mask is empty: paint the region to fill in white (255)")
    return bbox


def plan_work(
    model: LoadedModel, coverage: np.ndarray, context_margin: int | None = None
) -> tuple[Rect, tuple[int, int]]:
    """(the context crop, the working size the model sees) for a mask over a whole image."""
    height, width = coverage.shape
    crop = plan_crop(_bbox_or_error(coverage), (width, height), context_margin)
    return crop, fill_working_size(coverage[crop.slices], model.native_size, model.stride)


@dataclass(frozen=True)
class PreparedFill:
    """One image's crop at the working size, ready for the sampler (tensors on the CPU)."""

    crop: Rect
    size: tuple[int, int]  # working size (w, h)
    known: torch.Tensor  # (1, 3, h, w) in [-1, 1]
    keep_mask: torch.Tensor  # (1, 1, h, w), 1 = keep

    def crop_fill(self, sample: torch.Tensor) -> np.ndarray:
        """One (3, h, w) sample -> the crop-sized (H, W, 3) uint8 fill."""
        return from_model_tensor(sample, (self.crop.width, self.crop.height))


def prepare_fill(
    model: LoadedModel, rgb: np.ndarray, coverage: np.ndarray, context_margin: int | None = None
) -> PreparedFill:
    """Crop the (H, W, 3) uint8 image around the mask and scale it to the working size."""
    crop, size = plan_work(model, coverage, context_margin)
    known, keep_mask = to_model_tensors(rgb[crop.slices], coverage[crop.slices], size)
    return PreparedFill(crop, size, known, keep_mask)


def sample_batch(
    model: LoadedModel,
    known: torch.Tensor,
    keep_mask: torch.Tensor,
    settings: SamplingSettings,
    seeds: list[int],
    callback: StepCallback | None = None,
) -> torch.Tensor:
    """RePaint on a batch at one working size; item i draws its noise from ``seeds[i]``."""
    generators = [torch.Generator(device=model.device).manual_seed(s) for s in seeds]
    return repaint(
        model.denoiser,
        known.to(model.device),
        keep_mask.to(model.device),
        settings.schedule(),
        diffusion_tables(model.training_betas, settings.steps),
        generators=generators,
        reverse_step=settings.step_kind(model.variance_type),
        callback=callback,
    )


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
        validate_request(request)
        with self._lock, torch.inference_mode():
            return self._fill(request, callback)

    def _fill(self, request: FillRequest, callback: StepCallback | None) -> FillResult:
        started = time.perf_counter()
        model = self.model
        prepared = prepare_fill(
            model, to_rgb8(request.image), request.coverage, request.context_margin
        )
        batch = request.variations
        known = prepared.known.expand(batch, -1, -1, -1).contiguous()
        base_seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        seeds = [base_seed + i for i in range(batch)]
        settings = request.settings
        sample = sample_batch(model, known, prepared.keep_mask, settings, seeds, callback)
        fills = [prepared.crop_fill(item) for item in sample]
        crop, size = prepared.crop, prepared.size
        report = {
            "model": model.name,
            "device": str(model.device),
            "dtype": dtype_name(model.dtype),
            **asdict(settings),
            "model_calls": settings.schedule().model_calls,
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
