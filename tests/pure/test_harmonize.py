"""Seam harmonisation: the fill's colour step at the selection's border is removed, nothing else."""

from __future__ import annotations

import numpy as np
import torch
from helpers_oracle import fills_without_and_with, oracle_model
from repaint_fill_backend import harmonize
from repaint_fill_backend.harmonize import HarmonicExtension, SeamHarmonizer
from repaint_fill_backend.presets import SamplingSettings

SHORT = SamplingSettings(steps=10, jump_length=2, jump_n_sample=2)


def box_keep(height: int, width: int, top: int, left: int, side: int) -> torch.Tensor:
    keep = torch.ones(1, 1, height, width)
    keep[..., top : top + side, left : left + side] = 0
    return keep


def textured(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A smooth colour ramp plus fine grain, in [-1, 1], (1, 3, H, W)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([0.3 * xx - 0.2, 0.2 * yy, 0.1 * (xx + yy) + 0.1])
    grain = 0.08 * rng.standard_normal((3, height, width))
    return torch.from_numpy(base + grain).float()[None]


def border_step(image: torch.Tensor, keep: torch.Tensor, width: int = 3) -> float:
    """Mean |colour difference| between the hole's top rows and the known rows just above
    them (``width`` rows each side, averaged along the border, per channel)."""
    hole = keep[0, 0] < 0.5
    rows, cols = torch.nonzero(hole, as_tuple=True)
    top, left, right = rows.min(), cols.min(), cols.max()
    inside = image[0, :, top : top + width, left : right + 1].mean(dim=(1, 2))
    outside = image[0, :, top - width : top, left : right + 1].mean(dim=(1, 2))
    return float((inside - outside).abs().mean())


def test_harmonic_extension_is_exact_for_linear_boundaries_and_zero_where_nothing_is_known():
    hole = np.zeros((30, 40), bool)
    hole[5:25, 8:30] = True
    yy, xx = np.mgrid[0:30, 0:40]
    linear = np.stack([0.5 * xx - 0.25 * yy + 3, 0 * xx + 1.5], axis=-1).astype(np.float64)
    values = linear.copy()
    values[hole] = 99.0  # never read: only the hole's known neighbours are
    extended = HarmonicExtension(hole)(values)
    assert np.allclose(extended, linear, atol=1e-9)
    everything = np.ones((10, 10), bool)
    assert np.all(HarmonicExtension(everything)(np.full((10, 10, 2), 5.0)) == 0)


def test_a_darker_fill_gets_the_surroundings_colour_and_keeps_its_own_detail():
    known = textured(96, 96)
    keep = box_keep(96, 96, 24, 24, 48)
    estimate = known.clone()
    grain = 0.1 * torch.randn(1, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    estimate[..., 24:72, 24:72] = known[..., 24:72, 24:72].mean() - 0.35 + grain  # darker patch
    corrected = SeamHarmonizer(known, keep, sigma=4.0)(estimate)
    assert border_step(estimate, keep) > 0.25
    assert border_step(corrected, keep) < 0.06
    offset = (corrected - estimate)[..., 24:72, 24:72]
    # only a smooth offset was added: the grain (pixel-to-pixel differences) is the fill's own
    assert torch.allclose(offset.diff(dim=-1).abs().mean(), torch.tensor(0.0), atol=0.01)
    # known pixels are returned as given
    outside = keep.expand_as(estimate) > 0.5
    assert torch.equal(corrected[outside], estimate[outside])


def test_variations_are_corrected_independently_and_soft_edges_in_proportion():
    known = textured(64, 64, seed=2)
    keep = box_keep(64, 64, 16, 16, 32)
    keep[..., 15, 16:48] = 0.7  # a soft selection edge: mostly known
    first, second = known.clone(), known.clone()
    first[..., 16:48, 16:48] += 0.3
    second[..., 16:48, 16:48] -= 0.2
    seam = SeamHarmonizer(known, keep, sigma=3.0)
    both = seam(torch.cat([first, second]))
    assert torch.allclose(both[:1], seam(first), atol=1e-6)
    assert torch.allclose(both[1:], seam(second), atol=1e-6)
    edge_change = (both[:1] - first)[..., 15, 20:44].abs().mean()
    inner_change = (both[:1] - first)[..., 16, 20:44].abs().mean()
    assert 0 < edge_change < inner_change  # the 0.3-selected edge gets part of the offset


def test_a_hole_too_large_to_solve_whole_is_solved_on_a_coarser_grid(monkeypatch):
    monkeypatch.setattr(harmonize, "MAX_UNKNOWNS", 400)  # a 48x48 hole: factor 3
    known = textured(96, 96, seed=3)
    keep = box_keep(96, 96, 24, 24, 48)
    estimate = known.clone()
    estimate[..., 24:72, 24:72] += 0.3
    seam = SeamHarmonizer(known, keep, sigma=4.0)
    assert seam.factor == 3
    corrected = seam(estimate)
    assert border_step(corrected, keep) < 0.06


def test_a_crop_that_is_all_hole_is_left_alone():
    estimate = textured(32, 32)
    keep = torch.zeros(1, 1, 32, 32)
    assert torch.equal(SeamHarmonizer(estimate, keep, sigma=2.0)(estimate), estimate)


def test_the_engine_fill_matches_the_surroundings_only_with_harmonisation():
    colour = torch.tensor([0.3, 0.1, -0.2]).view(1, 3, 1, 1)
    # the failure harmonisation is for: the clean estimate a flat colour 0.5 darker than the image
    model = oracle_model({"constant": colour - 0.5}, native=32)
    pixels = np.broadcast_to(((colour[0, :, 0, 0] + 1) * 127.5).round().byte().numpy(),
                             (120, 160, 3)).copy()  # fmt: skip
    coverage = np.zeros((120, 160), np.uint8)
    coverage[40:80, 50:110] = 255  # crop 100x80 > 1.5 x 32: a coarse pass, then refinement
    hole = coverage > 0
    filled = fills_without_and_with(model, pixels, coverage, SHORT, "harmonize", context_margin=20)
    errors = {on: np.abs(picture[hole].astype(int) - pixels[hole].astype(int)).mean()
              for on, picture in filled.items()}  # fmt: skip
    assert errors[False] > 40  # the raw fill is the darker patch
    assert errors[True] < 6  # harmonised, it takes the surroundings' colour


def test_a_fill_that_already_continues_a_gradient_is_changed_by_little():
    """The step is measured between Gaussian means on either side of the border, so a colour
    ramp across it reads as a small step: bounded here on a photo-like gradient."""
    known = textured(96, 96)
    keep = box_keep(96, 96, 24, 24, 48)
    change = (SeamHarmonizer(known, keep, sigma=4.0)(known) - known)[..., 24:72, 24:72].abs()
    assert change.max() < 0.05  # 6 of 255 levels at the border
    assert change.mean() < 0.01  # about one level on average
