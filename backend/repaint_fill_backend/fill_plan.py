"""The whole fill planned before the first model call: regions x levels x tiles, exact calls.

Each region is worked at its own pixel density when its crop fits the model (longest side up to
``NATIVE_FACTOR`` x the model's native size; sides padded up to the stride, never scaled). Larger
crops go coarse to fine: a full RePaint pass at the model's native size, then refinement levels
each about 2x finer up to native density. A refinement level starts from the previous level's
result, noised to a share (``refine_strength``) of the schedule, and runs the rest of the
RePaint walk. Levels larger than ``NATIVE_FACTOR`` x native run in overlapping tiles of the
native size; tiles holding no pixel to generate are skipped (they cost nothing).

Tiles are larger than the native size where that is cheaper (``tile_side``): the UNets are
convolutional, and one 384x384 call of the embedded model costs what 9 native calls cost, while
covering the same level with overlapping 128 px tiles takes 16 (measured, docs/benchmarks.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from .choices import DEFAULT_DETAIL, DEFAULT_REFINE_STRENGTH, DETAILS
from .imaging import fill_working_size, scaled_coverage
from .presets import SamplingSettings
from .regions import Rect, Region, find_regions, mask_bbox, plan_crop

# A crop up to this many times the model's native size is worked at its own pixels in one pass
# (beyond it the model loses the layout). Measured (docs/benchmarks.md, real-size section).
NATIVE_FACTOR = 1.5
# Tiles: up to this many times the native size, and never more pixels a side than MAX_TILE_SIDE
# (the lowest-resolution self-attention grows with the square of a tile's pixels).
TILE_FACTOR = 3
MAX_TILE_SIDE = 512
# A refinement level is added while its scale is below this; the last level is always 1:1.
LAST_STEP_BELOW = 0.8
TILE_OVERLAP_SHARE = 0.25  # overlap between neighbouring tiles, as a share of the native size
# Context around the hole a refinement level works with, as a share of the native size.
REFINE_CONTEXT_SHARE = 0.25


@dataclass(frozen=True)
class Level:
    """One pass over a region at one pixel density."""

    scale: float  # level pixels per crop pixel (1.0 = native density)
    content_size: tuple[int, int]  # the crop at this scale (w, h)
    window: Rect  # the part of the content worked on (refinement: the hole + local context)
    working_size: tuple[int, int]  # what the model sees: the window padded up to the stride
    tiles: tuple[Rect, ...]  # in working coordinates; one tile = the whole level
    start_index: int | None  # None = the full schedule; else refine from this respaced index
    calls_per_tile: int

    @property
    def model_calls(self) -> int:
        return self.calls_per_tile * len(self.tiles)

    def report(self) -> dict:
        return {
            "working_size": list(self.working_size),
            "window": [self.window.x, self.window.y, self.window.width, self.window.height],
            "scale": round(self.scale, 4),
            "tiles": len(self.tiles),
            "model_calls": self.model_calls,
        }


@dataclass(frozen=True)
class RegionPlan:
    region: Region
    levels: tuple[Level, ...]
    levels_dropped: int = 0  # finest levels left out to fit a time budget

    @property
    def model_calls(self) -> int:
        return sum(level.model_calls for level in self.levels)

    def report(self) -> dict:
        crop = self.region.crop
        return {
            "crop": [crop.x, crop.y, crop.width, crop.height],
            "levels": [level.report() for level in self.levels],
            "levels_dropped": self.levels_dropped,
        }


@dataclass(frozen=True)
class FillPlan:
    """Every model call of a fill, known before the first one."""

    regions: tuple[RegionPlan, ...]
    settings: SamplingSettings
    detail: str
    refine_strength: float

    @property
    def model_calls(self) -> int:
        return sum(region.model_calls for region in self.regions)

    def without_finest(self, dropped: int) -> FillPlan:
        """The plan with up to ``dropped`` finest levels left out of every region (>= 1 kept)."""
        regions = []
        for region in self.regions:
            keep = max(1, len(region.levels) + region.levels_dropped - dropped)
            kept = region.levels[:keep]
            lost = region.levels_dropped + len(region.levels) - len(kept)
            regions.append(RegionPlan(region.region, kept, lost))
        return replace(self, regions=tuple(regions))

    def with_settings(self, settings: SamplingSettings) -> FillPlan:
        """The same regions, levels and tiles under another schedule: only the calls change
        (the geometry does not depend on the schedule), so a budget need not plan again."""
        schedule = settings.schedule()
        start = refine_start(settings, self.refine_strength)
        refined_calls = schedule.from_index(start).model_calls

        def rescheduled(level: Level) -> Level:
            if level.start_index is None:
                return replace(level, calls_per_tile=schedule.model_calls)
            return replace(level, start_index=start, calls_per_tile=refined_calls)

        regions = tuple(
            replace(region, levels=tuple(rescheduled(level) for level in region.levels))
            for region in self.regions
        )
        return replace(self, regions=regions, settings=settings)

    @property
    def depth(self) -> int:
        """Most levels any region has (before anything was dropped)."""
        return max(len(r.levels) + r.levels_dropped for r in self.regions)


@dataclass(frozen=True)
class ModelGeometry:
    """What planning needs to know about a model."""

    native_size: int
    stride: int


def plan_fill(
    coverage: np.ndarray,
    geometry: ModelGeometry,
    settings: SamplingSettings,
    *,
    detail: str = DEFAULT_DETAIL,
    context_margin: int | None = None,
    refine_strength: float = DEFAULT_REFINE_STRENGTH,
    native_factor: float = NATIVE_FACTOR,
) -> FillPlan:
    """Plan the fill of ``coverage`` (H, W) uint8, 255 = fill, over a whole image.

    ``native_factor``: crops up to this many times the native size are worked 1:1 in one pass
    (a setting for the benchmark that chose it; the product uses NATIVE_FACTOR).
    """
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}, got {detail!r}")
    if not 0.0 < refine_strength <= 1.0:
        raise ValueError(f"refine strength must be in (0, 1], got {refine_strength}")
    regions = tuple(
        RegionPlan(
            region,
            plan_levels(
                coverage[region.crop.slices],
                geometry,
                settings,
                detail,
                refine_strength,
                native_factor,
            ),
        )  # fmt: skip
        for region in find_regions(coverage, context_margin)
    )
    return FillPlan(regions, settings, detail, refine_strength)


def level_scales(crop_size: tuple[int, int], coarse_size: tuple[int, int]) -> list[float]:
    """Scales of the refinement levels after a coarse pass (2x apart, the last 1:1)."""
    first = max(coarse_size) / max(crop_size)
    scales, scale = [], first * 2
    while scale < LAST_STEP_BELOW:
        scales.append(scale)
        scale *= 2
    return [*scales, 1.0]


def plan_levels(
    crop_coverage: np.ndarray,
    geometry: ModelGeometry,
    settings: SamplingSettings,
    detail: str,
    refine_strength: float,
    native_factor: float = NATIVE_FACTOR,
) -> tuple[Level, ...]:
    """The levels of one region's crop (see the module docstring for the rule)."""
    height, width = crop_coverage.shape
    native, stride = geometry.native_size, geometry.stride
    schedule = settings.schedule()
    fits = max(width, height) <= native_factor * native
    if detail == "native" and fits:
        size = padded_size((width, height), stride)
        return (Level(1.0, (width, height), Rect(0, 0, width, height), size,
                      (Rect(0, 0, *size),), None, schedule.model_calls),)  # fmt: skip
    coarse = fill_working_size(crop_coverage, native, stride)
    first = Level(
        max(coarse) / max(width, height), coarse, Rect(0, 0, *coarse), coarse,
        (Rect(0, 0, *coarse),), None, schedule.model_calls,
    )  # fmt: skip
    if detail == "coarse" or max(coarse) >= max(width, height):
        return (first,)
    start = refine_start(settings, refine_strength)
    calls = schedule.from_index(start).model_calls
    levels = [first]
    context = max(stride, round(native * REFINE_CONTEXT_SHARE))
    for scale in level_scales((width, height), coarse):
        content = (max(1, round(width * scale)), max(1, round(height * scale)))
        covered = scaled_coverage(crop_coverage, content) > 0
        window = refine_window(covered, context)
        size = padded_size(window.size, stride)
        unknown = level_unknown(covered[window.slices], size)
        tiles = plan_tiles(size, unknown, tile_side(native, stride), native, stride)
        levels.append(Level(scale, content, window, size, tiles, start, calls))
    return tuple(levels)


def refine_start(settings: SamplingSettings, refine_strength: float) -> int:
    """The respaced index a refinement level starts its walk from."""
    return min(settings.steps - 1, max(0, round(refine_strength * settings.steps) - 1))


def refine_window(covered: np.ndarray, context: int) -> Rect:
    """Where a refinement level works: the hole at that level grown by ``context`` pixels.

    Outside it every pixel is known, and the coarser levels have already set the layout, so the
    grain needs only local context (the coarse pass used the whole crop).
    """
    bbox = mask_bbox(covered.astype(np.uint8))
    height, width = covered.shape
    if bbox is None:
        return Rect(0, 0, width, height)
    return plan_crop(bbox, (width, height), context)


def padded_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """Each side rounded UP to a multiple of ``stride``."""
    return tuple(max(stride, math.ceil(side / stride) * stride) for side in size)  # type: ignore[return-value]


def pad_to(tensor: torch.Tensor, working_size: tuple[int, int]) -> torch.Tensor:
    """Pad an (N, C, h, w) tensor at the right and bottom to ``working_size`` by reflection
    (edge replication where the content is too small to reflect)."""
    height, width = tensor.shape[-2:]
    pad_w, pad_h = working_size[0] - width, working_size[1] - height
    if pad_w == 0 and pad_h == 0:
        return tensor
    mode = "reflect" if pad_w < width and pad_h < height else "replicate"
    return F.pad(tensor, (0, pad_w, 0, pad_h), mode=mode)


def level_unknown(covered: np.ndarray, working_size: tuple[int, int]) -> np.ndarray:
    """(h, w) bool at the working size: True where the level generates pixels (padding mirrors
    the content, so a hole at the image border continues into the padding)."""
    tensor = torch.from_numpy(covered.astype(np.float32))[None, None]
    return pad_to(tensor, working_size)[0, 0].numpy() > 0.5


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spread tile offsets covering ``length`` with at least ``overlap`` between tiles."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_overlap(native: int, stride: int) -> int:
    """Pixels neighbouring tiles share; also how far the blend weights fall off at a tile edge."""
    return max(stride, round(native * TILE_OVERLAP_SHARE))


def tile_side(native: int, stride: int) -> int:
    """The side of a level's tiles (and the largest level worked in one call)."""
    side = max(native, min(TILE_FACTOR * native, MAX_TILE_SIDE))
    return side // stride * stride


def plan_tiles(
    size: tuple[int, int], unknown: np.ndarray, tile: int, native: int, stride: int
) -> tuple[Rect, ...]:
    """The whole level when it fits one tile, else the overlapping tiles that hold at least one
    pixel to generate (overlap: a quarter of the native size)."""
    width, height = size
    if max(width, height) <= tile:
        return (Rect(0, 0, width, height),)
    tile_w, tile_h = min(tile, width), min(tile, height)
    overlap = tile_overlap(native, stride)
    tiles = []
    for y in tile_starts(height, tile_h, overlap):
        for x in tile_starts(width, tile_w, overlap):
            tile = Rect(x, y, tile_w, tile_h)
            if unknown[tile.slices].any():
                tiles.append(tile)
    return tuple(tiles)
