"""Fill orchestration: upload building, wire mask, result layers (STAND-IN backend, see
tests/helpers_standin.py; the real server is exercised in tests/backend and tests/hosts)."""

import pytest
from helpers_standin import FILL_COLOUR, StandInBackend
from repaint_fill_core.client import BackendClient
from repaint_fill_core.errors import NoSelection
from repaint_fill_core.fill import (
    FillOptions,
    build_job_upload,
    execute,
    flatten_on_white,
    layer_name,
    plan_fill,
    with_seed,
)
from repaint_fill_core.geometry import CanvasRect
from repaint_fill_core.png import decode_png

CANVAS = CanvasRect(0, 0, 64, 48)


def _crop_buffers(crop: CanvasRect, selection: CanvasRect) -> tuple:
    rgba = bytes([10, 20, 30, 255]) * (crop.width * crop.height)
    coverage = bytearray(crop.width * crop.height)
    for y in range(selection.y, selection.bottom):
        for x in range(selection.x, selection.right):
            # soft right edge: the last column is half selected
            value = 128 if x == selection.right - 1 else 255
            coverage[(y - crop.y) * crop.width + (x - crop.x)] = value
    return rgba, bytes(coverage)


def test_request_carries_image_mask_and_params() -> None:
    selection = CanvasRect(20, 10, 8, 6)
    crop = plan_fill(selection, CANVAS, 4)
    assert crop == CanvasRect(16, 6, 16, 14)
    rgba, coverage = _crop_buffers(crop, selection)
    options = FillOptions(preset="fast", seed=5, steps=3, context_margin=4)
    upload = build_job_upload(crop, rgba, coverage, options)
    # the margin goes along: the backend plans each region's crop with at least that context
    assert upload.params == {
        "preset": "fast",
        "seed": 5,
        "steps": 3,
        "variations": 1,
        "context_margin": 4,
    }
    assert decode_png(upload.image_png) == (16, 14, 3, bytes([10, 20, 30]) * (16 * 14))
    assert decode_png(upload.mask_png) == (16, 14, 1, coverage)  # 255 = fill on the wire


def test_a_time_budget_replaces_the_preset_and_schedule_keys() -> None:
    options = FillOptions(preset="paper", steps=50, jump_length=5, seed=3, budget=20)
    # The backend refuses a budget together with a preset or schedule keys: they are not sent.
    assert options.to_params() == {"budget": 20.0, "seed": 3, "variations": 1, "context_margin": 64}
    assert "budget" not in FillOptions(preset="fast", budget=None).to_params()


def test_random_seed_is_chosen_and_shown_in_the_name() -> None:
    crop = CanvasRect(0, 0, 4, 4)
    upload = build_job_upload(crop, bytes(64), bytes([255]) * 16, FillOptions())
    assert isinstance(upload.params["seed"], int)
    assert layer_name(upload.params["seed"]) == "RePaint Fill (seed {})".format(
        upload.params["seed"]
    )


def test_no_selection() -> None:
    with pytest.raises(NoSelection):
        plan_fill(None, CANVAS, 8)
    with pytest.raises(NoSelection):
        build_job_upload(CanvasRect(0, 0, 2, 2), bytes(16), bytes(4), FillOptions())


def test_flatten_on_white() -> None:
    rgba = bytes([0, 0, 0, 0, 255, 0, 0, 255, 0, 0, 0, 128])
    assert flatten_on_white(rgba) == bytes([255, 255, 255, 255, 0, 0, 127, 127, 127])


def test_layers_have_alpha_equal_to_coverage_and_the_crop_offset() -> None:
    selection = CanvasRect(30, 20, 5, 4)
    crop = plan_fill(selection, CANVAS, 3)
    rgba, coverage = _crop_buffers(crop, selection)
    upload = build_job_upload(crop, rgba, coverage, FillOptions(seed=11, variations=3))
    with StandInBackend() as server:
        layers = execute(BackendClient(server.url, "test-token", 5), upload, poll_interval=0.01)
    assert [layer.name for layer in layers] == [
        "RePaint Fill (seed 11)",
        "RePaint Fill (seed 12)",
        "RePaint Fill (seed 13)",
    ]
    for layer in layers:
        assert layer.rect == crop
        assert layer.rgba[3::4] == coverage
        inside = (selection.y - crop.y) * crop.width + (selection.x - crop.x)
        assert tuple(layer.rgba[inside * 4 : inside * 4 + 3]) == FILL_COLOUR


def test_with_seed_keeps_a_fixed_seed_and_picks_a_random_one() -> None:
    assert with_seed(FillOptions(seed=4)).seed == 4
    seeds = {with_seed(FillOptions()).seed for _ in range(5)}
    assert all(isinstance(seed, int) and 0 <= seed < 2**31 for seed in seeds) and len(seeds) > 1
