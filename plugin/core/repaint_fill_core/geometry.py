"""The host's rectangles and its context crop (canvas coordinates, pixels, x right, y down).

Host-side names on purpose: the backend has its own ``regions.Rect`` and ``plan_crop`` (the
crops of each region inside the image it receives); the host only cuts that image out.
"""

from typing import NamedTuple, Optional

from .errors import NoSelection


class CanvasRect(NamedTuple):
    """An axis-aligned rectangle on the host's canvas; empty unless width and height are > 0."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        """First column to the right of the rectangle."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """First row below the rectangle."""
        return self.y + self.height

    def is_empty(self) -> bool:
        """True when the rectangle covers no pixel."""
        return self.width <= 0 or self.height <= 0

    def intersect(self, other: "CanvasRect") -> Optional["CanvasRect"]:
        """The common part of two rectangles, or None when they do not overlap."""
        left, top = max(self.x, other.x), max(self.y, other.y)
        right, bottom = min(self.right, other.right), min(self.bottom, other.bottom)
        if right <= left or bottom <= top:
            return None
        return CanvasRect(left, top, right - left, bottom - top)

    def pad(self, margin: int) -> "CanvasRect":
        """The rectangle grown by ``margin`` pixels on every side."""
        return CanvasRect(
            self.x - margin, self.y - margin, self.width + 2 * margin, self.height + 2 * margin
        )


def context_crop(selection: CanvasRect, canvas: CanvasRect, margin: int) -> CanvasRect:
    """The context crop: the selection's bounding box padded by ``margin``, clamped to the canvas.

    Raises NoSelection when the selection is empty or lies entirely outside the canvas.
    """
    if margin < 0:
        raise ValueError("context margin must not be negative, got {}".format(margin))
    if selection.is_empty():
        raise NoSelection()
    inside = selection.intersect(canvas)
    if inside is None:
        raise NoSelection("The selection lies outside the image. Select a region inside it.")
    crop = inside.pad(margin).intersect(canvas)
    assert crop is not None  # inside is within canvas, so the padded box overlaps it
    return crop
