"""Where a fill happens: the selection split into regions, each with its own context crop.

The backend is the one owner of crop geometry. The host sends the selection's bounding box grown
by the user's context margin; here every connected part of the selection becomes a region whose
crop is its bounding box grown by that same margin (clamped to the image), and regions whose
crops overlap are merged, so no region ever sees less context than was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Without an explicit margin a region gets half its longest side of context, at least this much.
MIN_DEFAULT_MARGIN = 16


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle in pixels (x to the right, y down)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.x + self.width, self.y + self.height)

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns) to index an (H, W, ...) array with."""
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def union(self, other: Rect) -> Rect:
        """The smallest rectangle holding both."""
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1 = max(self.x + self.width, other.x + other.width)
        y1 = max(self.y + self.height, other.y + other.height)
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def overlaps(self, other: Rect) -> bool:
        """True when the two share at least one pixel."""
        return (
            self.x < other.x + other.width
            and other.x < self.x + self.width
            and self.y < other.y + other.height
            and other.y < self.y + self.height
        )

    def relative_to(self, outer: Rect) -> Rect:
        """This rectangle in the coordinates of ``outer``'s top-left corner."""
        return Rect(self.x - outer.x, self.y - outer.y, self.width, self.height)


def mask_bbox(coverage: np.ndarray) -> Rect | None:
    """Bounding box of the pixels with any coverage; None when the mask is empty."""
    rows, cols = np.any(coverage > 0, axis=1), np.any(coverage > 0, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.flatnonzero(rows)[[0, -1]]
    x0, x1 = np.flatnonzero(cols)[[0, -1]]
    return Rect(int(x0), int(y0), int(x1 - x0 + 1), int(y1 - y0 + 1))


def context_margin_for(bbox: Rect, margin: int | None) -> int:
    """The margin asked for, or by default half the box's longest side (at least 16 px)."""
    if margin is not None:
        return margin
    return max(MIN_DEFAULT_MARGIN, max(bbox.width, bbox.height) // 2)


def plan_crop(bbox: Rect, image_size: tuple[int, int], margin: int | None = None) -> Rect:
    """The context crop: ``bbox`` grown by ``margin`` on every side, clamped to the image."""
    width, height = image_size
    pad = context_margin_for(bbox, margin)
    x0, y0 = max(0, bbox.x - pad), max(0, bbox.y - pad)
    x1 = min(width, bbox.x + bbox.width + pad)
    y1 = min(height, bbox.y + bbox.height + pad)
    return Rect(x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True)
class Region:
    """One part of the selection to fill on its own: its pixels' bounding box and its crop."""

    bbox: Rect
    crop: Rect


def find_regions(coverage: np.ndarray, margin: int | None = None) -> list[Region]:
    """Split the selection into regions: connected parts (8-neighbours), merged while their
    context crops overlap. Sorted top to bottom, left to right; empty mask -> [].

    Without an explicit margin each part gets the default margin of its own size, so a large
    object and a small stroke far from it are worked at their own scales.
    """
    labels, count = ndimage.label(coverage > 0, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return []
    image_size = (coverage.shape[1], coverage.shape[0])
    boxes = [_slices_to_rect(found) for found in ndimage.find_objects(labels)]
    return _merge_overlapping(boxes, image_size, margin)


def _slices_to_rect(found: tuple[slice, slice]) -> Rect:
    rows, cols = found
    return Rect(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)


def _merge_overlapping(
    boxes: list[Rect], image_size: tuple[int, int], margin: int | None
) -> list[Region]:
    """Merge boxes whose crops overlap until no two crops do (a merged crop can reach a third)."""
    regions = [Region(box, plan_crop(box, image_size, margin)) for box in boxes]
    merged = True
    while merged:
        merged = False
        for i, first in enumerate(regions):
            for j in range(i + 1, len(regions)):
                if first.crop.overlaps(regions[j].crop):
                    bbox = first.bbox.union(regions[j].bbox)
                    # The merged crop holds both crops, so neither part loses context.
                    crop = plan_crop(bbox, image_size, margin).union(first.crop)
                    crop = crop.union(regions[j].crop)
                    regions[i] = Region(bbox, crop)
                    del regions[j]
                    merged = True
                    break
            if merged:
                break
    return sorted(regions, key=lambda region: (region.bbox.y, region.bbox.x))


def bounding_crop(regions: list[Region]) -> Rect:
    """The rectangle holding every region's crop (what a fill result covers)."""
    crop = regions[0].crop
    for region in regions[1:]:
        crop = crop.union(region.crop)
    return crop
