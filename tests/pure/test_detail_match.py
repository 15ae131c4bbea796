"""Detail matching: a soft fill gets its surroundings' grain, and nothing else changes."""

from __future__ import annotations

import numpy as np
import torch
from helpers_oracle import fills_without_and_with, oracle_model
from repaint_fill_backend.detail_match import MAX_GAIN, match_detail
from repaint_fill_backend.imaging import composite
from repaint_fill_backend.presets import SamplingSettings
from scipy import ndimage

SIZE, TOP, SIDE = 128, 32, 64


def grain(amplitude: float, seed: int, size: int = SIZE) -> np.ndarray:
    """Mid grey with fine (1-2 px) grain of this standard deviation, float (H, W, 3)."""
    noise = np.random.default_rng(seed).standard_normal((size, size, 3))
    noise = ndimage.gaussian_filter(noise, (0.7, 0.7, 0))
    return 128 + amplitude * noise / noise.std()


def box() -> np.ndarray:
    coverage = np.zeros((SIZE, SIZE), np.uint8)
    coverage[TOP : TOP + SIDE, TOP : TOP + SIDE] = 255
    return coverage


def to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def fine_detail(image: np.ndarray, where: np.ndarray) -> float:
    """RMS of the image minus its 1.5 px blur over ``where`` (the grain a viewer sees)."""
    values = image.astype(np.float64)
    detail = values - ndimage.gaussian_filter(values, (1.5, 1.5, 0))
    return float(np.sqrt((detail[where] ** 2).mean()))


def inner(coverage: np.ndarray) -> np.ndarray:
    return ndimage.binary_erosion(coverage > 0, iterations=6)


def test_a_soft_fill_gets_the_grain_of_its_surroundings_and_known_pixels_stay():
    original = to_uint8(grain(12, seed=0))
    fill = to_uint8(grain(3, seed=1))  # the model's soft patch: a quarter of the grain
    coverage = box()
    matched = match_detail(fill, original, coverage)
    hole = inner(coverage)
    before, after = fine_detail(fill, hole), fine_detail(matched, hole)
    target = fine_detail(original, inner(255 - coverage) & ~(coverage > 0))
    assert before < 0.35 * target
    assert 0.75 * target < after < 1.15 * target  # raised to the surroundings' level
    assert np.array_equal(matched[coverage == 0], fill[coverage == 0])
    # the fill's own pattern is amplified, not replaced: its coarse picture is unchanged
    blur = (4, 4, 0)
    shift = ndimage.gaussian_filter(matched.astype(float), blur) - ndimage.gaussian_filter(
        fill.astype(float), blur
    )
    assert np.abs(shift[hole]).mean() < 1.0


def test_smooth_surroundings_or_an_already_detailed_fill_are_left_as_they_are():
    coverage = box()
    smooth = to_uint8(np.broadcast_to(np.linspace(60, 200, SIZE)[None, :, None], (SIZE, SIZE, 3)))
    soft_fill = to_uint8(grain(1.0, seed=2))
    assert np.abs(match_detail(soft_fill, smooth, coverage).astype(int) - soft_fill).max() <= 1
    detailed_fill = to_uint8(grain(20, seed=3))  # grainier than the surroundings: never smoothed
    original = to_uint8(grain(8, seed=4))
    assert np.array_equal(match_detail(detailed_fill, original, coverage), detailed_fill)


def test_the_grain_asked_for_follows_the_surroundings_locally():
    """Grainy above, smooth below (a meadow under a sky, upside down): the hole's top half
    gains grain, its bottom half stays as soft as the fill was."""
    size = 256
    original = grain(14, seed=5, size=size)
    original[size // 2 :] = 128 + np.linspace(0, 30, size)[None, :, None]
    coverage = np.zeros((size, size), np.uint8)
    coverage[64:192, 64:192] = 255
    fill = to_uint8(grain(2, seed=6, size=size))
    matched = match_detail(fill, to_uint8(original), coverage)
    top, bottom = np.zeros((size, size), bool), np.zeros((size, size), bool)
    top[70:100, 70:186], bottom[156:186, 70:186] = True, True
    assert fine_detail(matched, top) > 2.5 * fine_detail(fill, top)
    assert fine_detail(matched, bottom) < 1.3 * fine_detail(fill, bottom)


def test_sparse_strong_edges_do_not_ask_for_grain_in_smooth_areas():
    """A sky crossed by a power line: the line is strong detail but the area is smooth, so a
    smooth fill stays nearly as smooth (the strength is a geometric mean of the energy, not
    the energy's mean, which here would ask for the most grain allowed)."""
    sky = np.full((SIZE, SIZE, 3), 150.0)
    sky[:, 18:20] = 20
    coverage = box()
    ring = ndimage.binary_dilation(coverage > 0, iterations=24) & (coverage == 0)
    fill = to_uint8(grain(1.0, seed=7))
    hole = inner(coverage)
    assert fine_detail(to_uint8(sky), ring) > MAX_GAIN * fine_detail(fill, hole)
    matched = match_detail(fill, to_uint8(sky), coverage)
    assert fine_detail(matched, hole) < 1.6 * fine_detail(fill, hole)


def test_the_gain_is_capped_soft_edges_change_in_proportion_and_empty_cases_pass_through():
    original = to_uint8(grain(40, seed=8))
    coverage = box()
    fill = to_uint8(grain(2, seed=9))
    matched = match_detail(fill, original, coverage)
    hole = inner(coverage)
    assert fine_detail(matched, hole) <= MAX_GAIN * fine_detail(fill, hole) * 1.05
    # a feathered selection: its soft edge shows less of the change than the inside
    feathered = to_uint8(ndimage.gaussian_filter(coverage.astype(float), 4))
    before = composite(original, fill, feathered)
    after = composite(original, match_detail(fill, original, feathered), feathered)
    change = np.abs(after.astype(int) - before)
    assert np.array_equal(after[feathered == 0], original[feathered == 0])
    edge = (feathered > 0) & (feathered < 96)
    assert change[edge].mean() < 0.6 * change[feathered == 255].mean()
    everything = np.full((SIZE, SIZE), 255, np.uint8)  # nothing around the hole to match
    assert np.array_equal(match_detail(fill, original, everything), fill)
    nothing = np.zeros((SIZE, SIZE), np.uint8)
    assert np.array_equal(match_detail(fill, original, nothing), fill)


def test_the_engine_fill_gets_the_grain_only_with_detail_matching():
    """A model that paints a soft, faint pattern into grainy surroundings (the failure detail
    matching is for; a 48 px crop is worked 1:1 in one pass): on, the hole's grain rises
    towards the surroundings'; off, it does not; the known pixels are untouched either way
    and the report says which ran."""
    rng = np.random.default_rng(10)
    pattern = ndimage.gaussian_filter(rng.standard_normal((3, 48, 48)), (0, 0.7, 0.7))
    soft = torch.from_numpy(0.02 * pattern / pattern.std()).float()[None]
    model = oracle_model({"constant": soft}, native=32)
    pixels = to_uint8(grain(14, seed=11, size=96))
    coverage = np.zeros((96, 96), np.uint8)
    coverage[32:64, 32:64] = 255
    settings = SamplingSettings(steps=10, jump_length=2, jump_n_sample=2)
    filled = fills_without_and_with(model, pixels, coverage, settings, "detail_match",
                                    context_margin=8)  # fmt: skip
    detail = {}
    for on, picture in filled.items():
        assert np.array_equal(picture[coverage == 0], pixels[coverage == 0])
        detail[on] = fine_detail(picture, inner(coverage))
    assert detail[True] > 1.8 * detail[False]
