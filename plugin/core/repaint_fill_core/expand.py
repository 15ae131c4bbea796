"""Expand (outpainting) on the host side: the grown canvas, the border to fill, the upload.

Only geometry lives here; the canvas itself is grown by the host (Krita's Resize Canvas, GIMP's
image resize) once the fill has succeeded, so a failed or cancelled expand changes nothing.
Coordinates: the grown canvas is ``CanvasRect(0, 0, W, H)``; the old canvas sits at ``(left, top)``.
The pixels sent are read from the old canvas at ``source_rect`` (the new border reads as
transparent there, and it is fully masked: the backend never uses it as context).
"""

from dataclasses import replace
from typing import NamedTuple

from .errors import NothingToExpand
from .fill import FillLayer, FillOptions, JobUpload, build_job_upload
from .geometry import CanvasRect, context_crop
from .limits import MAX_EXPAND_SIDE

LAYER_PREFIX = "RePaint Expand"


class ExpandSides(NamedTuple):
    """Pixels to add on each side."""

    left: int = 0
    right: int = 0
    top: int = 0
    bottom: int = 0


class ExpandPlan(NamedTuple):
    """Where everything is on the grown canvas, and which part of it goes to the backend."""

    sides: ExpandSides
    canvas: CanvasRect  # the grown canvas, CanvasRect(0, 0, W, H)
    original: CanvasRect  # the old canvas inside it
    crop: CanvasRect  # the border's bounding box plus the context margin, clamped to the canvas

    @property
    def source_rect(self) -> CanvasRect:
        """``crop`` in the old canvas's coordinates (what the host reads before growing)."""
        return CanvasRect(
            self.crop.x - self.sides.left,
            self.crop.y - self.sides.top,
            self.crop.width,
            self.crop.height,
        )


def check_sides(sides: ExpandSides) -> ExpandSides:
    """The sides as ints; NothingToExpand when all are 0 or one is negative or huge."""
    sides = ExpandSides(*(int(value) for value in sides))
    if any(value < 0 for value in sides):
        raise NothingToExpand(
            "Expand sizes must be 0 or more pixels; to cut the image, crop it instead."
        )
    if any(value > MAX_EXPAND_SIDE for value in sides):
        raise NothingToExpand("Expand by at most {} px on a side.".format(MAX_EXPAND_SIDE))
    if not any(sides):
        raise NothingToExpand()
    return sides


def border_bbox(canvas: CanvasRect, original: CanvasRect, sides: ExpandSides) -> CanvasRect:
    """The bounding box of the new border (the part of ``canvas`` outside ``original``)."""
    if sides.top or sides.bottom:
        x0, x1 = canvas.x, canvas.right
    else:
        x0 = canvas.x if sides.left else original.right
        x1 = canvas.right if sides.right else original.x
    if sides.left or sides.right:
        y0, y1 = canvas.y, canvas.bottom
    else:
        y0 = canvas.y if sides.top else original.bottom
        y1 = canvas.bottom if sides.bottom else original.y
    return CanvasRect(x0, y0, x1 - x0, y1 - y0)


def plan_expand(width: int, height: int, sides: ExpandSides, context_margin: int) -> ExpandPlan:
    """The grown canvas of a ``width`` x ``height`` image and the crop to fill."""
    sides = check_sides(sides)
    canvas = CanvasRect(0, 0, width + sides.left + sides.right, height + sides.top + sides.bottom)
    original = CanvasRect(sides.left, sides.top, width, height)
    crop = context_crop(border_bbox(canvas, original, sides), canvas, context_margin)
    return ExpandPlan(sides, canvas, original, crop)


def border_coverage(plan: ExpandPlan) -> bytes:
    """Coverage of ``plan.crop``, one byte a pixel: 255 on the new border, 0 on the old canvas."""
    crop = plan.crop
    inside = plan.original.intersect(crop)
    full_row = b"\xff" * crop.width
    if inside is None:
        return full_row * crop.height
    row = (
        b"\xff" * (inside.x - crop.x)
        + b"\x00" * inside.width
        + b"\xff" * (crop.right - inside.right)
    )
    rows = [row if inside.y <= y < inside.bottom else full_row for y in range(crop.y, crop.bottom)]
    return b"".join(rows)


def sides_for_aspect(width: int, height: int, ratio_width: int, ratio_height: int) -> ExpandSides:
    """The sides that grow a ``width`` x ``height`` canvas to the aspect ratio
    ``ratio_width``:``ratio_height``, centred (the odd pixel goes right or bottom)."""
    if ratio_width <= 0 or ratio_height <= 0:
        raise NothingToExpand("An aspect ratio needs two positive numbers, e.g. 16:9.")
    # Grow only: the side that is too short for the ratio gets longer, the other stays.
    target_width = -(-height * ratio_width // ratio_height)  # ceiling division
    target_height = -(-width * ratio_height // ratio_width)
    extra_width = max(0, target_width - width)
    extra_height = max(0, target_height - height) if not extra_width else 0
    return ExpandSides(
        extra_width // 2,
        extra_width - extra_width // 2,
        extra_height // 2,
        extra_height - extra_height // 2,
    )


def layer_name(seed: object) -> str:
    """The new layer's name, e.g. "RePaint Expand (seed 42)"."""
    return LAYER_PREFIX if seed is None else "{} (seed {})".format(LAYER_PREFIX, seed)


def build_expand_upload(plan: ExpandPlan, source_rgba: bytes, options: FillOptions) -> JobUpload:
    """The fill job of an expand: ``plan.crop`` of the grown canvas with the border masked.

    One result (variations are a fill feature); the rest is ``fill.build_job_upload``.
    """
    return build_job_upload(
        plan.crop, source_rgba, border_coverage(plan), replace(options, variations=1)
    )


def expand_layer(layer: FillLayer) -> FillLayer:
    """A fill result renamed as the expand's layer."""
    return replace(layer, name=layer_name(layer.seed))
