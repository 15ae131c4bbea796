"""One fill, end to end on arrays: plan regions and levels, sample each, paste. CLI and server.

The engine owns the loaded model (loaded once per process and kept warm) and nothing else.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .choices import (
    DEFAULT_DETAIL,
    DEFAULT_REFINE_STRENGTH,
    DETAILS,
    EMBEDDED,
    MAX_SEED,
    MAX_VARIATIONS,
)
from .denoiser import Denoiser, LoadedModel
from .detail_match import match_detail
from .devices import choose_device, choose_dtype, dtype_name
from .exceptions import FillCancelled, ImageInputError
from .fill_plan import (
    FillPlan,
    Level,
    ModelGeometry,
    RegionPlan,
    pad_to,
    plan_fill,
    tile_overlap,
)
from .fill_report import FillReport, finest_working_size
from .harmonize import SeamHarmonizer, level_sigma, per_item
from .imaging import (
    fill_working_size,
    from_model_tensor,
    to_model_tensors,
    to_rgb8,
)
from .models import load_model
from .presets import SamplingSettings
from .regions import Rect, bounding_crop, mask_bbox, plan_crop
from .sampler import EstimateCorrection, StepCallback, StepInfo, repaint
from .schedule import DiffusionTables, JumpSchedule, diffusion_tables
from .tiling import TiledDenoiser


@dataclass(frozen=True)
class FillRequest:
    """What to fill and how. ``coverage`` is (H, W) uint8, 255 = fill (the wire convention)."""

    image: Image.Image
    coverage: np.ndarray
    settings: SamplingSettings
    seed: int | None = None  # None = random; variation i uses seed + i
    variations: int = 1
    context_margin: int | None = None  # None = half each region's longest side
    detail: str = DEFAULT_DETAIL  # native: refine to the image's own pixels | coarse: one pass
    refine_strength: float = DEFAULT_REFINE_STRENGTH
    drop_levels: int = 0  # leave out this many finest levels (a time budget sets it)
    harmonize: bool = True  # remove the colour step at the hole's border (harmonize.py)
    detail_match: bool = True  # raise the fill's grain to its surroundings' (detail_match.py)


@dataclass(frozen=True)
class FillResult:
    """The fills of one request: crop-sized RGB arrays, one per variation, and the run's report
    (None for a preview's estimate)."""

    crop: Rect
    fills: list[np.ndarray]
    report: FillReport | None = None

    @property
    def seeds(self) -> list[int]:
        assert self.report is not None, "a finished fill has its report"
        return list(self.report.seeds)


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
    if request.detail not in DETAILS:
        raise ImageInputError(f"detail must be one of {', '.join(DETAILS)}, got {request.detail!r}")
    if request.context_margin is not None and request.context_margin < 0:
        raise ImageInputError(f"context margin must be >= 0 px, got {request.context_margin}")
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
    seam_sigmas: Sequence[float] | None = None,
) -> torch.Tensor:
    """RePaint on a batch at one working size; item i draws its noise from ``seeds[i]``.

    ``seam_sigmas`` (one per item, as ``level_sigma`` gives it): harmonise each item's seam the
    way a one-level fill does (every x0 estimate and the result); None = the sampler alone.
    """
    generators = [torch.Generator(device=model.device).manual_seed(s) for s in seeds]
    seams = None
    if seam_sigmas is not None:
        seams = per_item([
            SeamHarmonizer(known[i : i + 1], keep_mask[i : i + 1] if len(keep_mask) > 1
                           else keep_mask, sigma)
            for i, sigma in enumerate(seam_sigmas)
        ])  # fmt: skip
    return harmonised_repaint(
        model.denoiser,
        known.to(model.device),
        keep_mask.to(model.device),
        settings.schedule(),
        diffusion_tables(model.training_betas, settings.steps),
        seams,
        anchor_estimates=True,
        generators=generators,
        reverse_step=settings.step_kind(model.variance_type),
        callback=callback,
    )


def harmonised_repaint(
    denoiser: Denoiser,
    known: torch.Tensor,
    keep_mask: torch.Tensor,
    schedule: JumpSchedule,
    tables: DiffusionTables,
    seam: EstimateCorrection | None,
    *,
    anchor_estimates: bool,
    **sampler_options,
) -> torch.Tensor:
    """``repaint`` with seam harmonisation: with ``anchor_estimates`` every x0 estimate's
    colour is anchored to the surroundings (the layout's level), and the result's seam step is
    removed; ``seam`` None is the sampler alone."""
    correct_x0 = seam if anchor_estimates else None
    sample = repaint(denoiser, known, keep_mask, schedule, tables, correct_x0=correct_x0,
                     **sampler_options)  # fmt: skip
    return sample if seam is None else seam(sample)


class Engine:
    """Holds one warm model and fills requests with it; one fill at a time (a lock guards it)."""

    def __init__(self, model: LoadedModel):
        self.model = model
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model: str = EMBEDDED, device: str = "auto", dtype: str = "auto") -> Engine:
        torch_device = choose_device(device)
        return cls(load_model(model, torch_device, choose_dtype(torch_device, dtype)))

    @property
    def geometry(self) -> ModelGeometry:
        """What planning needs to know about the model (no model call)."""
        return model_geometry(self.model)

    def plan(self, request: FillRequest) -> FillPlan:
        """Every model call of the request, before the first one (regions, levels, tiles)."""
        return plan_for_geometry(self.geometry, request)

    @contextmanager
    def session(self) -> Iterator[LoadedModel]:
        """The model for one job's work (a time budget's measuring calls, then the fill): the
        engine's lock held so no other job uses the device meanwhile, autograd off."""
        with self._lock, torch.inference_mode():
            yield self.model

    def run_plan(
        self,
        request: FillRequest,
        plan: FillPlan,
        callback: StepCallback | None = None,
        on_preview: PreviewCallback | None = None,
    ) -> FillResult:
        """Carry out ``plan`` (inside ``session()``: the caller holds the lock)."""
        assert self._lock.locked(), "run_plan runs inside Engine.session()"
        return run_plan(self.model, request, plan, callback, on_preview)

    def fill(
        self,
        request: FillRequest,
        callback: StepCallback | None = None,
        on_preview: PreviewCallback | None = None,
    ) -> FillResult:
        """Validate, plan and fill one request; raises FillCancelled if the callback cancels.

        ``callback`` runs after every model call (progress over the whole plan, cancellation);
        ``on_preview`` receives the result's crop and the crop-sized current estimate of the
        first variation every ``PREVIEW_EVERY`` sampler steps. (The CLI and the server go
        through ``service.fill``, which adds the time budget and validates before loading.)
        """
        validate_request(request)
        with self.session():
            return self.run_plan(request, self.plan(request), callback, on_preview)


def plan_request(model: LoadedModel, request: FillRequest) -> FillPlan:
    """The fill plan of ``request`` for ``model``, its ``drop_levels`` finest levels left out."""
    return plan_for_geometry(model_geometry(model), request)


def model_geometry(model: LoadedModel) -> ModelGeometry:
    """What planning needs to know about ``model``: its native size and stride."""
    return ModelGeometry(model.native_size, model.stride)


def plan_for_geometry(geometry: ModelGeometry, request: FillRequest) -> FillPlan:
    """The fill plan of ``request`` for a model of this geometry (no model needed: the server
    plans at submit time to count a job's calls)."""
    plan = plan_fill(
        request.coverage,
        geometry,
        request.settings,
        detail=request.detail,
        context_margin=request.context_margin,
        refine_strength=request.refine_strength,
    )
    return plan.without_finest(request.drop_levels) if request.drop_levels else plan


def run_plan(
    model: LoadedModel,
    request: FillRequest,
    plan: FillPlan,
    callback: StepCallback | None = None,
    on_preview: PreviewCallback | None = None,
) -> FillResult:
    """Carry out a plan: each region level by level (its grain then matched to the
    surroundings' unless asked not to); the results pasted into one crop."""
    started = time.perf_counter()
    rgb, coverage = to_rgb8(request.image), request.coverage
    base_seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    seeds = [base_seed + i for i in range(request.variations)]
    crop = bounding_crop([region.region for region in plan.regions])
    canvases = [rgb[crop.slices].copy() for _ in seeds]
    progress = PlanProgress(plan.model_calls, callback)
    for region_plan in plan.regions:
        place = region_plan.region.crop.relative_to(crop)
        preview = _region_preview(on_preview, canvases[0], crop, place, coverage, region_plan)
        fills = fill_region(model, rgb, coverage, region_plan, plan.settings, seeds, progress,
                            preview, harmonize=request.harmonize)  # fmt: skip
        if request.detail_match:
            region = region_plan.region.crop.slices
            fills = [match_detail(fill, rgb[region], coverage[region]) for fill in fills]
        for canvas, fill in zip(canvases, fills):
            canvas[place.slices] = fill
    report = FillReport(
        model=model.name,
        device=str(model.device),
        dtype=dtype_name(model.dtype),
        settings=plan.settings,
        model_calls=plan.model_calls,
        seconds=round(time.perf_counter() - started, 3),
        seeds=tuple(seeds),
        variations=request.variations,
        working_size=finest_working_size(plan),
        crop=crop,
        image_size=request.image.size,
        detail=plan.detail,
        refine_strength=plan.refine_strength,
        harmonize=request.harmonize,
        detail_match=request.detail_match,
        regions=plan.regions,
    )
    return FillResult(crop=crop, fills=canvases, report=report)


class PlanProgress:
    """Progress over the whole plan: counts model calls and reports each to the callback."""

    def __init__(self, total: int, callback: StepCallback | None):
        self.total, self.done, self.callback = total, 0, callback
        self.started = time.perf_counter()

    def add(self, calls: int) -> None:
        self.done += calls
        if self.callback is not None:
            elapsed = time.perf_counter() - self.started
            eta = elapsed / self.done * (self.total - self.done)
            self.callback(StepInfo(self.done, self.total, eta, -1, None))


def fill_region(
    model: LoadedModel,
    rgb: np.ndarray,
    coverage: np.ndarray,
    plan: RegionPlan,
    settings: SamplingSettings,
    seeds: list[int],
    progress: PlanProgress,
    on_level_preview: LevelPreview | None = None,
    harmonize: bool = True,
) -> list[np.ndarray]:
    """One region, coarse to fine; returns one crop-sized (H, W, 3) uint8 fill per seed.

    With ``harmonize`` the first level (the layout) anchors every x0 estimate's colour to the
    surroundings, and every level's result has its seam's colour step removed (harmonize.py).
    """
    crop = plan.region.crop
    crop_rgb, crop_coverage = rgb[crop.slices], coverage[crop.slices]
    generators = [torch.Generator(device=model.device).manual_seed(s) for s in seeds]
    tables = diffusion_tables(model.training_betas, settings.steps)
    schedule = settings.schedule()
    previous: torch.Tensor | None = None
    for level in plan.levels:
        if not level.tiles:
            continue
        known, keep_mask = to_model_tensors(crop_rgb, crop_coverage, level.content_size)
        known, keep_mask = known.to(model.device), keep_mask.to(model.device)
        # The level's whole content: the previous result upscaled under the known pixels.
        canvas = known.expand(len(seeds), -1, -1, -1)
        if previous is not None:
            width, height = level.content_size
            upscaled = F.interpolate(previous, size=(height, width), mode="bicubic").clamp(-1, 1)
            canvas = keep_mask * known + (1 - keep_mask) * upscaled
        rows, cols = level.window.slices
        init = None
        if level.start_index is not None and previous is not None:
            init = pad_to(canvas[..., rows, cols], level.working_size)
        walk = schedule if level.start_index is None else schedule.from_index(level.start_index)
        denoiser = TiledDenoiser(
            model.denoiser, level.tiles, fade=tile_overlap(model.native_size, model.stride),
            on_call=progress.add, batch_tiles=tile_batch(model.device, level.tiles[0], len(seeds)),
        )  # fmt: skip
        window_known = pad_to(known[..., rows, cols], level.working_size)
        window_keep = pad_to(keep_mask[..., rows, cols], level.working_size)
        seam = None
        if harmonize:
            seam = SeamHarmonizer(window_known, window_keep,
                                  level_sigma(level.content_size[0], crop.width))  # fmt: skip
        sample = harmonised_repaint(
            denoiser,
            window_known.expand(len(seeds), -1, -1, -1).contiguous(),
            window_keep,
            walk,
            tables,
            seam,
            anchor_estimates=previous is None,
            generators=generators,
            reverse_step=settings.step_kind(model.variance_type),
            callback=_level_callback(on_level_preview, level, canvas),
            preview=on_level_preview is not None,
            init=init,
        )
        previous = canvas.clone()
        previous[..., rows, cols] = sample[..., : level.window.height, : level.window.width]
    return [from_model_tensor(item, crop.size) for item in previous]


def tile_batch(device: torch.device, tile: Rect, variations: int) -> int:
    """Tiles per model call: 1 on the CPU (batching buys nothing there, measured), more on a GPU
    as its free memory allows (about 2 MB of activations per 64x64 tile pixel block, a cautious
    figure for the UNets we load; untested here: no GPU on the build machines)."""
    if device.type != "cuda":
        return 1
    free_bytes, _ = torch.cuda.mem_get_info(device)
    per_tile = tile.width * tile.height / 4096 * 2 * 2**20 * variations
    return int(max(1, min(16, free_bytes * 0.5 // per_tile)))


LevelPreview = Callable[[Level, torch.Tensor], None]
PreviewCallback = Callable[[Rect, np.ndarray], None]  # (the result's crop, picture of it)
PREVIEW_EVERY = 5  # sampler steps between previews (each costs a resize of the crop)


def _level_callback(
    on_level_preview: LevelPreview | None, level: Level, canvas: torch.Tensor
) -> StepCallback | None:
    """The sampler's callback for one level: every PREVIEW_EVERY-th x0 estimate, pasted into the
    level's whole content (``canvas``), is handed on."""
    if on_level_preview is None:
        return None
    steps = 0
    rows, cols = level.window.slices

    def callback(info: StepInfo) -> None:
        nonlocal steps
        steps += 1
        if info.x0_preview is not None and (steps % PREVIEW_EVERY == 0 or info.step == info.total):
            estimate = canvas[:1].clone()
            window = info.x0_preview[:1, :, : level.window.height, : level.window.width]
            estimate[..., rows, cols] = window.to(estimate.dtype)
            on_level_preview(level, estimate)

    return callback


def _region_preview(
    on_preview: PreviewCallback | None,
    canvas: np.ndarray,
    crop_of_result: Rect,
    place: Rect,
    coverage: np.ndarray,
    region_plan: RegionPlan,
) -> LevelPreview | None:
    """Turn a level's x0 estimate into a crop-sized picture: known pixels kept, hole estimated."""
    if on_preview is None:
        return None
    crop = region_plan.region.crop
    hole = coverage[crop.slices] > 0

    def preview(level: Level, x0: torch.Tensor) -> None:
        estimate = from_model_tensor(x0[0], crop.size)
        picture = canvas.copy()
        picture[place.slices][hole] = estimate[hole]
        on_preview(crop_of_result, picture)

    return preview


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
