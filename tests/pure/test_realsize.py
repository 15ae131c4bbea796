"""Real-size fills: regions, level and tile planning, tile blending, levels end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_oracle import Oracle, oracle_model
from PIL import Image
from repaint_fill_backend import fill_plan
from repaint_fill_backend.denoiser import Prediction
from repaint_fill_backend.engine import Engine, FillRequest
from repaint_fill_backend.fill_plan import (
    ModelGeometry,
    level_scales,
    plan_fill,
    plan_tiles,
    tile_starts,
)
from repaint_fill_backend.presets import SamplingSettings
from repaint_fill_backend.regions import Rect, find_regions
from repaint_fill_backend.sampler import FillCancelled
from repaint_fill_backend.tiling import TiledDenoiser

SHORT = SamplingSettings(steps=10, jump_length=2, jump_n_sample=2)  # 18 calls


def mask_with(shape: tuple[int, int], *boxes: tuple[int, int, int, int]) -> np.ndarray:
    coverage = np.zeros(shape, dtype=np.uint8)
    for x0, y0, x1, y1 in boxes:
        coverage[y0:y1, x0:x1] = 255
    return coverage


# ---- regions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("boxes", "margin", "expected"),
    [
        # one box: its crop is the box grown by the margin, clamped to the 200x100 image
        ([(10, 10, 30, 30)], 16, [(Rect(10, 10, 20, 20), Rect(0, 0, 46, 46))]),
        # two boxes far apart stay two regions, each with its own crop
        (
            [(10, 10, 20, 20), (150, 60, 160, 70)],
            8,
            [(Rect(10, 10, 10, 10), Rect(2, 2, 26, 26)),
             (Rect(150, 60, 10, 10), Rect(142, 52, 26, 26))],
        ),
        # crops that overlap merge into one region holding both crops
        ([(10, 10, 20, 20), (40, 10, 50, 20)], 16, [(Rect(10, 10, 40, 10), Rect(0, 0, 66, 36))]),
        # a merged crop that reaches a third part merges it too
        (
            [(10, 40, 20, 50), (44, 40, 54, 50), (78, 40, 88, 50)],
            13,
            [(Rect(10, 40, 78, 10), Rect(0, 27, 101, 36))],
        ),
    ],
)  # fmt: skip
def test_regions_split_and_merge_by_context_overlap(boxes, margin, expected) -> None:
    regions = find_regions(mask_with((100, 200), *boxes), margin)
    assert [(r.bbox, r.crop) for r in regions] == expected


def test_a_region_never_gets_less_context_than_asked() -> None:
    coverage = mask_with((300, 400), (100, 100, 140, 120), (300, 200, 310, 260))
    for region in find_regions(coverage, 64):
        bbox, crop = region.bbox, region.crop
        assert crop.x == max(0, bbox.x - 64) and crop.y == max(0, bbox.y - 64)
        assert crop.x + crop.width == min(400, bbox.x + bbox.width + 64)
        assert crop.y + crop.height == min(300, bbox.y + bbox.height + 64)


def test_diagonal_neighbours_are_one_region_and_empty_masks_have_none() -> None:
    coverage = np.zeros((50, 50), dtype=np.uint8)
    coverage[10, 10] = coverage[11, 11] = 255
    assert len(find_regions(coverage, 0)) == 1
    assert find_regions(np.zeros((8, 8), dtype=np.uint8), 4) == []


# ---- levels and tiles ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crop", "native", "expected"),
    [
        ((512, 512), 128, [0.5, 1.0]),  # coarse 0.25, then 2x, then 1:1
        ((1024, 640), 128, [0.25, 0.5, 1.0]),
        ((200, 150), 128, [1.0]),  # coarse 0.64: straight to 1:1
        ((1536, 1024), 256, [1 / 3, 2 / 3, 1.0]),
    ],
)
def test_refinement_levels_double_up_to_native_density(crop, native, expected) -> None:
    coarse = (native, round(native * crop[1] / crop[0]))
    assert level_scales(crop, coarse) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("image", "box", "native", "stride", "sizes", "tiles"),
    [
        # a crop that fits (<= 1.5 x native) is worked at its own pixels, padded to the stride
        ((300, 200), (100, 60, 150, 100), 128, 16, [(160, 144)], [1]),
        # a larger crop: coarse pass at native size, then 1:1 in one call (<= 3 x native), on
        # the hole and 32 px around it (the coarse pass had the whole crop)
        ((600, 400), (200, 120, 400, 280), 128, 16, [(128, 112), (272, 224)], [1, 1]),
        # a crop 4x the native size: coarse, 2x, 1:1 (tiles only where the level is large)
        ((1200, 800), (400, 300, 800, 500), 128, 16, [(128, 80), (256, 160), (464, 272)],
         [1, 1, 2]),
        # a 1500x1000 selection in a 4000x3000 photo: 1:1 in 384 px tiles
        ((4000, 3000), (1250, 1000, 2750, 2000), 128, 16,
         [(128, 96), (256, 176), (512, 352), (1024, 704), (1568, 1072)], [1, 1, 2, 6, 15]),
        # guided-diffusion-like: native 256, stride 32, tiles up to 512 px
        ((2000, 1500), (800, 600, 1200, 900), 256, 32, [(256, 192), (512, 416)], [1, 1]),
    ],
)  # fmt: skip
def test_level_plans(image, box, native, stride, sizes, tiles) -> None:
    coverage = mask_with(image[::-1], box)
    plan = plan_fill(coverage, ModelGeometry(native, stride), SHORT, context_margin=50)
    (region,) = plan.regions
    assert [level.working_size for level in region.levels] == sizes
    assert [len(level.tiles) for level in region.levels] == tiles
    for level in region.levels:
        assert all(side % stride == 0 for side in level.working_size)
        for tile in level.tiles:
            assert tile.x + tile.width <= level.working_size[0]
            assert tile.y + tile.height <= level.working_size[1]


def test_coarse_detail_is_one_pass_and_model_calls_are_exact() -> None:
    coverage = mask_with((400, 600), (200, 120, 400, 280))
    coarse = plan_fill(coverage, ModelGeometry(128, 16), SHORT, detail="coarse")
    assert [len(r.levels) for r in coarse.regions] == [1]
    assert coarse.model_calls == SHORT.schedule().model_calls
    native = plan_fill(coverage, ModelGeometry(128, 16), SHORT, refine_strength=0.5)
    refine_calls = SHORT.schedule().from_index(4).model_calls
    expected = SHORT.schedule().model_calls + sum(
        refine_calls * len(level.tiles) for level in native.regions[0].levels[1:]
    )
    assert native.model_calls == expected
    dropped = native.without_finest(1)
    assert len(dropped.regions[0].levels) == len(native.regions[0].levels) - 1
    assert dropped.regions[0].levels_dropped == 1


def test_tiles_cover_every_pixel_to_generate_and_skip_known_only_ones() -> None:
    unknown = np.zeros((400, 400), dtype=bool)
    unknown[10:30, 10:30] = True
    tiles = plan_tiles((400, 400), unknown, 128, 128, 16)
    assert 0 < len(tiles) < 16  # a 4x4 grid; only tiles touching the hole
    covered = np.zeros_like(unknown)
    for tile in tiles:
        covered[tile.slices] = True
    assert covered[unknown].all()
    starts = tile_starts(400, 128, 32)
    assert starts[0] == 0 and starts[-1] == 400 - 128
    assert all(b - a <= 128 - 32 for a, b in zip(starts, starts[1:]))


# ---- tile blending -------------------------------------------------------------------------


def test_blending_tiles_of_a_pointwise_denoiser_equals_one_call() -> None:
    """Tiles lose nothing: weights are normalised over the overlaps (eps and learned variance)."""

    def pointwise(x: torch.Tensor, t: torch.Tensor) -> Prediction:
        return Prediction(torch.tanh(x) * 0.5 + t.view(-1, 1, 1, 1) * 1e-3, torch.sigmoid(x))

    x = torch.randn(2, 3, 96, 160)
    t = torch.full((2,), 500)
    starts_x, starts_y = tile_starts(160, 64, 16), tile_starts(96, 64, 16)
    tiles = [Rect(sx, sy, 64, 64) for sy in starts_y for sx in starts_x]
    calls = []
    tiled = TiledDenoiser(pointwise, tiles, fade=16, on_call=calls.append, batch_tiles=4)(x, t)
    whole = pointwise(x, t)
    assert torch.allclose(tiled.eps, whole.eps, atol=1e-6)
    assert torch.allclose(tiled.variance_frac, whole.variance_frac, atol=1e-6)
    assert sum(calls) == len(tiles)


# ---- levels end to end with an oracle --------------------------------------------------------


def tell_the_oracle_where(monkeypatch, oracle: Oracle) -> None:
    """Test wiring only: a real model needs no position; the oracle must know each tile's."""
    predict = TiledDenoiser._predict

    def located(self, x, timesteps, group):
        predictions = []
        for tile in group:
            oracle.where = (tuple(x.shape[-2:]), tile)
            predictions += predict(self, x, timesteps, [tile])
        oracle.where = None
        return predictions

    monkeypatch.setattr(TiledDenoiser, "_predict", located)


def test_a_constant_image_through_levels_and_tiles_has_no_seams() -> None:
    colour = torch.tensor([0.2, -0.4, 0.6]).view(1, 3, 1, 1)
    model = oracle_model({"constant": colour}, native=32)
    pixels = np.broadcast_to(((colour[0, :, 0, 0] + 1) * 127.5).round().byte().numpy(),
                             (160, 240, 3)).copy()  # fmt: skip
    coverage = mask_with((160, 240), (40, 30, 200, 130))
    request = FillRequest(Image.fromarray(pixels), coverage, SHORT, seed=3, context_margin=16)
    plan = Engine(model).plan(request)
    assert max(len(level.tiles) for level in plan.regions[0].levels) > 1  # tiles are exercised
    result = Engine(model).fill(request)
    fill = result.fills[0]
    assert np.abs(fill.astype(int) - pixels[result.crop.slices].astype(int)).max() <= 1


def test_levels_reproduce_the_original_with_a_perfect_denoiser(monkeypatch) -> None:
    """Coarse pass, refinement from an intermediate step, tiles, padding: nothing is lost."""
    height, width = 40, 70  # crop 70x40 > 1.5 x 32: coarse (32x16), then 1:1 on the hole + 8 px
    yy, xx = np.mgrid[0:height, 0:width]
    pixels = np.stack([xx * 3, yy * 5, (xx + yy) * 2], axis=-1).clip(0, 255).astype(np.uint8)
    truth = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1
    coarse = torch.from_numpy(
        np.array(Image.fromarray(pixels).resize((32, 16), Image.Resampling.LANCZOS))
    ).permute(2, 0, 1)[None].float() / 127.5 - 1  # fmt: skip
    window = truth[..., 2:38, 12:58]  # the hole (20..50, 10..30) grown by 8 px: 46x36
    padded = torch.nn.functional.pad(window, (0, 2, 0, 4), mode="reflect")  # to 48x40
    model = oracle_model({(16, 32): coarse, (40, 48): padded}, native=32)
    tell_the_oracle_where(monkeypatch, model.denoiser)
    monkeypatch.setattr(fill_plan, "TILE_FACTOR", 1)  # 32 px tiles: the 1:1 window is tiled
    coverage = mask_with((height, width), (20, 10, 50, 30))
    # Harmonisation off: its colour-step estimate is biased on a ramp this steep (3 levels a
    # pixel; test_harmonize bounds it on photo-like gradients). This test is about the levels.
    request = FillRequest(Image.fromarray(pixels), coverage, SHORT, seed=0, context_margin=40,
                          harmonize=False)  # fmt: skip
    result = Engine(model).fill(request)
    levels = result.report.regions_json()[0]["levels"]
    assert [level["working_size"] for level in levels] == [[32, 16], [48, 40]]
    assert levels[1]["window"] == [12, 2, 46, 36]
    assert levels[1]["tiles"] > 1
    assert np.abs(result.fills[0].astype(int) - pixels.astype(int)).max() <= 1


def test_progress_runs_over_the_whole_plan_and_cancel_stops_within_one_call() -> None:
    model = oracle_model({"constant": torch.zeros(1, 3, 1, 1)}, native=32)
    pixels = np.full((160, 240, 3), 127, dtype=np.uint8)
    coverage = mask_with((160, 240), (40, 30, 200, 130), (5, 150, 15, 158))
    request = FillRequest(Image.fromarray(pixels), coverage, SHORT, seed=1, context_margin=8)
    engine = Engine(model)
    plan = engine.plan(request)
    assert len(plan.regions) == 2
    steps = []
    result = engine.fill(request, callback=lambda info: steps.append((info.step, info.total)))
    assert steps[-1] == (plan.model_calls, plan.model_calls)
    assert result.report.model_calls == plan.model_calls
    assert len(result.report.regions) == 2
    seen = []

    def cancel_at_seven(info) -> None:
        seen.append(info.step)
        if info.step >= 7:
            raise FillCancelled("stop")

    with pytest.raises(FillCancelled):
        engine.fill(request, callback=cancel_at_seven)
    assert seen[-1] == 7  # one call per callback, even inside tiled levels


def test_previews_are_crop_sized_and_keep_the_known_pixels() -> None:
    model = oracle_model({"constant": torch.zeros(1, 3, 1, 1)}, native=32)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (80, 120, 3), dtype=np.uint8)
    coverage = mask_with((80, 120), (40, 20, 80, 60))
    previews = []
    request = FillRequest(Image.fromarray(pixels), coverage, SHORT, seed=1, context_margin=20)
    crops = []
    result = Engine(model).fill(
        request, on_preview=lambda crop, picture: (crops.append(crop), previews.append(picture))
    )
    assert previews and set(crops) == {result.crop}
    for picture in previews:
        assert picture.shape == (*result.fills[0].shape[:2], 3)
        known = coverage[result.crop.slices] == 0
        assert (picture[known] == pixels[result.crop.slices][known]).all()


def test_a_plan_under_another_schedule_equals_planning_with_it() -> None:
    """The budget re-costs one plan per schedule instead of planning again."""
    coverage = mask_with((800, 1200), (400, 300, 800, 500), (20, 20, 60, 40))
    geometry = ModelGeometry(128, 16)
    other = SamplingSettings(steps=50, jump_length=5, jump_n_sample=5)
    planned = plan_fill(coverage, geometry, other, context_margin=50)
    rescheduled = plan_fill(coverage, geometry, SHORT, context_margin=50).with_settings(other)
    assert rescheduled == planned
    assert rescheduled.without_finest(1) == planned.without_finest(1)
