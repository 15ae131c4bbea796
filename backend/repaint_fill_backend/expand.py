"""Expand (outpainting): the grown canvas and the mask of its new border, as an ordinary fill.

The grown canvas holds the original at offset (left, top); the new border starts as the
original's edge pixels repeated outwards (edge replication). Those start values are never used
as context (the border is fully masked, 255 = fill): they only make the canvas a plausible image
for anything that looks at it before the fill, and keep the input's pixel format unchanged so
the original pixels come back byte-identical at their new offset.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

from .imaging import MAX_IMAGE_PIXELS, ImageInputError
from .regions import Rect

FILL = 255  # the wire/file mask convention: 255 = fill


class Sides(NamedTuple):
    """Pixels to add on each side of the canvas."""

    left: int = 0
    right: int = 0
    top: int = 0
    bottom: int = 0


class GrownCanvas(NamedTuple):
    """The fill job of one expand: the canvas, its coverage (255 on the border) and where the
    original sits inside it."""

    image: Image.Image
    coverage: np.ndarray
    original: Rect


def check_sides(sides: Sides) -> None:
    """Refuse negative or all-zero sides."""
    if any(value < 0 for value in sides):
        raise ImageInputError(
            "expand sizes must be 0 or more pixels (to cut the image, crop it instead)"
        )
    if not any(sides):
        raise ImageInputError(
            "nothing to expand: give at least one of --left, --right, --top, --bottom in pixels"
        )


def _check_grown_size(sides: Sides, image_size: tuple[int, int]) -> None:
    width = image_size[0] + sides.left + sides.right
    height = image_size[1] + sides.top + sides.bottom
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageInputError(
            f"the expanded canvas would be {width}x{height}, over {MAX_IMAGE_PIXELS} pixels; "
            "expand by less"
        )


def grow_canvas(image: Image.Image, sides: Sides) -> GrownCanvas:
    """The original pasted at (left, top) of a canvas grown by ``sides``, border edge-replicated.

    Palette and other exotic modes become RGB(A) first (as a fill's output would); RGB, RGBA,
    L, LA and 16-bit gray keep their mode.
    """
    check_sides(sides)
    _check_grown_size(sides, image.size)
    if image.mode not in ("RGB", "RGBA", "L", "LA", "I;16", "I"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    pixels = np.asarray(image)
    rows, columns = (sides.top, sides.bottom), (sides.left, sides.right)
    pad = (rows, columns) + ((0, 0),) * (pixels.ndim - 2)
    canvas = np.pad(pixels, pad, mode="edge")
    original = Rect(sides.left, sides.top, image.width, image.height)
    coverage = np.full(canvas.shape[:2], FILL, dtype=np.uint8)
    coverage[original.slices] = 0
    return GrownCanvas(Image.fromarray(canvas), coverage, original)
