"""Crop planning: selection bbox + context margin, clamped to the canvas."""

import pytest
from repaint_fill_core.errors import NoSelection
from repaint_fill_core.geometry import Rect, plan_crop

CANVAS = Rect(0, 0, 100, 80)


@pytest.mark.parametrize(
    ("selection", "margin", "expected"),
    [
        (Rect(40, 30, 10, 10), 0, Rect(40, 30, 10, 10)),  # no margin: the bbox itself
        (Rect(40, 30, 10, 10), 5, Rect(35, 25, 20, 20)),  # margin on every side
        (Rect(2, 3, 10, 10), 8, Rect(0, 0, 20, 21)),  # clamped at the top-left corner
        (Rect(95, 75, 5, 5), 10, Rect(85, 65, 15, 15)),  # clamped at the bottom-right corner
        (Rect(0, 0, 100, 80), 64, Rect(0, 0, 100, 80)),  # whole canvas stays the canvas
        (Rect(-20, -10, 30, 20), 0, Rect(0, 0, 10, 10)),  # partly outside: only the inside part
        (Rect(90, 10, 50, 10), 4, Rect(86, 6, 14, 18)),  # sticks out to the right
        (Rect(10, 10, 1, 1), 1000, Rect(0, 0, 100, 80)),  # huge margin = canvas
    ],
)
def test_plan_crop_table(selection: Rect, margin: int, expected: Rect) -> None:
    assert plan_crop(selection, CANVAS, margin) == expected


def test_plan_crop_with_offset_canvas() -> None:
    canvas = Rect(-50, -50, 100, 100)
    assert plan_crop(Rect(-45, 30, 10, 10), canvas, 10) == Rect(-50, 20, 25, 30)


@pytest.mark.parametrize(
    "selection",
    [Rect(10, 10, 0, 5), Rect(10, 10, 5, 0), Rect(200, 200, 10, 10), Rect(-30, 0, 30, 10)],
)
def test_empty_or_outside_selection_is_no_selection(selection: Rect) -> None:
    with pytest.raises(NoSelection) as caught:
        plan_crop(selection, CANVAS, 16)
    assert "Select" in str(caught.value)


def test_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_crop(Rect(1, 1, 2, 2), CANVAS, -1)


def test_rect_helpers() -> None:
    rect = Rect(3, 4, 10, 20)
    assert (rect.right, rect.bottom) == (13, 24)
    assert rect.intersect(Rect(13, 0, 5, 5)) is None  # touching edges do not overlap
    assert rect.intersect(Rect(0, 0, 5, 5)) == Rect(3, 4, 2, 1)
    assert rect.pad(2) == Rect(1, 2, 14, 24)
