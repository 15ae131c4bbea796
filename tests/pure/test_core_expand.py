"""Expand geometry on the host side: grown canvas, border crop, border mask, aspect ratio."""

import pytest
from repaint_fill_core.errors import NothingToExpand
from repaint_fill_core.expand import (
    ExpandSides,
    border_coverage,
    build_expand_upload,
    expand_layer,
    plan_expand,
    sides_for_aspect,
)
from repaint_fill_core.fill import FillLayer, FillOptions
from repaint_fill_core.geometry import CanvasRect
from repaint_fill_core.png import decode_png


def test_canvas_grows_by_the_asked_amounts_and_the_original_moves_by_left_top() -> None:
    plan = plan_expand(100, 60, ExpandSides(left=10, right=5, top=3, bottom=7), 8)
    assert plan.canvas == CanvasRect(0, 0, 115, 70)
    assert plan.original == CanvasRect(10, 3, 100, 60)
    assert plan.crop == plan.canvas  # a border on every side: its bbox is the whole canvas


@pytest.mark.parametrize(
    ("sides", "crop"),
    [
        (ExpandSides(right=20), CanvasRect(92, 0, 28, 60)),  # right strip + 8 px of the image
        (ExpandSides(left=20), CanvasRect(0, 0, 28, 60)),
        (ExpandSides(top=10), CanvasRect(0, 0, 100, 18)),
        (ExpandSides(bottom=10), CanvasRect(0, 52, 100, 18)),
        (ExpandSides(left=5, right=5), CanvasRect(0, 0, 110, 60)),
    ],
)
def test_one_side_sends_only_that_strip_and_its_context(sides, crop) -> None:
    assert plan_expand(100, 60, sides, 8).crop == crop


def test_border_mask_is_255_exactly_outside_the_original() -> None:
    plan = plan_expand(6, 4, ExpandSides(left=2, bottom=1), 1)
    coverage = border_coverage(plan)
    crop = plan.crop
    assert len(coverage) == crop.width * crop.height
    for index, value in enumerate(coverage):
        x, y = crop.x + index % crop.width, crop.y + index // crop.width
        inside = plan.original.intersect(CanvasRect(x, y, 1, 1)) is not None
        assert value == (0 if inside else 255), (x, y)


@pytest.mark.parametrize(
    "sides", [ExpandSides(), ExpandSides(0, 0, 0, 0), ExpandSides(left=-3, right=10)]
)
def test_nothing_or_negative_to_expand_is_a_clear_error(sides) -> None:
    with pytest.raises(NothingToExpand, match="(at least one side|0 or more pixels)"):
        plan_expand(100, 60, sides, 8)


@pytest.mark.parametrize(
    ("size", "ratio", "sides"),
    [
        ((100, 100), (16, 9), ExpandSides(39, 39, 0, 0)),  # wider: 178 x 100
        ((160, 90), (1, 1), ExpandSides(0, 0, 35, 35)),  # taller: 160 x 160
        ((101, 100), (2, 1), ExpandSides(49, 50, 0, 0)),  # the odd pixel goes right
        ((160, 90), (16, 9), ExpandSides(0, 0, 0, 0)),  # already there: nothing to add
    ],
)
def test_aspect_ratio_grows_the_short_side_centred(size, ratio, sides) -> None:
    assert sides_for_aspect(*size, *ratio) == sides


def test_request_masks_the_border_and_sends_one_result() -> None:
    plan = plan_expand(4, 2, ExpandSides(right=2), 2)
    source = bytes([10, 20, 30, 255]) * 2 + bytes(4) * 2  # a row: 2 image px, 2 transparent
    upload = build_expand_upload(plan, source * 2, FillOptions(seed=5, variations=3))
    assert upload.crop == CanvasRect(2, 0, 4, 2)
    width, height, channels, mask = decode_png(upload.mask_png)
    assert (width, height, channels) == (4, 2, 1)
    assert mask == bytes([0, 0, 255, 255]) * 2
    assert upload.params["variations"] == 1 and upload.params["seed"] == 5


def test_layer_is_named_as_an_expand() -> None:
    layer = FillLayer("RePaint Fill (seed 9)", CanvasRect(0, 0, 1, 1), bytes(4), 9)
    assert expand_layer(layer).name == "RePaint Expand (seed 9)"
