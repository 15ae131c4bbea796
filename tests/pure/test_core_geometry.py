"""Crop planning: selection bbox + context margin, clamped to the canvas."""

import pytest
from repaint_fill_core.errors import NoSelection
from repaint_fill_core.geometry import CanvasRect, context_crop

CANVAS = CanvasRect(0, 0, 100, 80)


@pytest.mark.parametrize(
    ("selection", "margin", "expected"),
    [
        (CanvasRect(40, 30, 10, 10), 0, CanvasRect(40, 30, 10, 10)),  # no margin: the bbox itself
        (CanvasRect(40, 30, 10, 10), 5, CanvasRect(35, 25, 20, 20)),  # margin on every side
        (CanvasRect(2, 3, 10, 10), 8, CanvasRect(0, 0, 20, 21)),  # clamped at the top-left corner
        (
            CanvasRect(95, 75, 5, 5),
            10,
            CanvasRect(85, 65, 15, 15),
        ),  # clamped at the bottom-right corner
        (CanvasRect(0, 0, 100, 80), 64, CanvasRect(0, 0, 100, 80)),  # whole canvas stays the canvas
        (
            CanvasRect(-20, -10, 30, 20),
            0,
            CanvasRect(0, 0, 10, 10),
        ),  # partly outside: only the inside part
        (CanvasRect(90, 10, 50, 10), 4, CanvasRect(86, 6, 14, 18)),  # sticks out to the right
        (CanvasRect(10, 10, 1, 1), 1000, CanvasRect(0, 0, 100, 80)),  # huge margin = canvas
    ],
)
def test_plan_crop_table(selection: CanvasRect, margin: int, expected: CanvasRect) -> None:
    assert context_crop(selection, CANVAS, margin) == expected


def test_plan_crop_with_offset_canvas() -> None:
    canvas = CanvasRect(-50, -50, 100, 100)
    assert context_crop(CanvasRect(-45, 30, 10, 10), canvas, 10) == CanvasRect(-50, 20, 25, 30)


@pytest.mark.parametrize(
    "selection",
    [
        CanvasRect(10, 10, 0, 5),
        CanvasRect(10, 10, 5, 0),
        CanvasRect(200, 200, 10, 10),
        CanvasRect(-30, 0, 30, 10),
    ],
)
def test_empty_or_outside_selection_is_no_selection(selection: CanvasRect) -> None:
    with pytest.raises(NoSelection) as caught:
        context_crop(selection, CANVAS, 16)
    assert "Select" in str(caught.value)


def test_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError):
        context_crop(CanvasRect(1, 1, 2, 2), CANVAS, -1)


def test_rect_helpers() -> None:
    rect = CanvasRect(3, 4, 10, 20)
    assert (rect.right, rect.bottom) == (13, 24)
    assert rect.intersect(CanvasRect(13, 0, 5, 5)) is None  # touching edges do not overlap
    assert rect.intersect(CanvasRect(0, 0, 5, 5)) == CanvasRect(3, 4, 2, 1)
    assert rect.pad(2) == CanvasRect(1, 2, 14, 24)
