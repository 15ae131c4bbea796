"""Seam harmonisation: remove the colour step between a fill and the pixels around it.

A small model's RePaint fill often continues the texture but not the colour: the hole comes
back darker or greyer than its surroundings and shows as a patch. This is the gradient-domain
correction of Pérez et al. (Poisson image editing, 2003), measured on the low frequencies only:
on each side of the hole's border the local mean colour is taken (a Gaussian average over known
pixels outside, over generated pixels inside); their difference is the seam's colour step, and
the smoothest (harmonic) offset that cancels that step at the border and fades towards the
hole's middle is added to the generated pixels. Their detail (gradients) is unchanged, so the
texture the model paints stays its own. The engine applies it to every x0 estimate of a
region's first (layout) level, so the model goes on from colours that continue the
surroundings, and to every level's result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage, sparse
from scipy.sparse.linalg import splu

SEAM_SIGMA = 8.0  # px at the image's own pixels: the Gaussian that takes each side's mean colour
MIN_SIGMA = 1.5  # px at a level's size: below this the mean is one pixel's colour (its grain)
MAX_UNKNOWNS = 65536  # larger holes are solved on a coarser grid (the offset is smooth)
NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1))


class HarmonicExtension:
    """Extends values from outside ``hole`` (H, W bool) into it as a harmonic function.

    The hole's discrete Laplacian is factorised once, so each extension (every variation,
    every sampler step) costs one pair of triangular solves. Image borders carry no
    condition. A part of the hole with no known neighbour (a crop that is all hole) has nothing
    to match: its values are 0.
    """

    def __init__(self, hole: np.ndarray):
        self.hole = hole
        self.count = count = int(hole.sum())
        index = np.full(hole.shape, -1, np.int64)
        index[hole] = np.arange(count)
        rows, cols = np.nonzero(hole)
        height, width = hole.shape
        degree = np.zeros(count)
        touching = np.zeros(count, bool)
        sources, targets, self._known = [], [], []
        for d_row, d_col in NEIGHBOURS:
            n_rows, n_cols = rows + d_row, cols + d_col
            inside = (n_rows >= 0) & (n_rows < height) & (n_cols >= 0) & (n_cols < width)
            me, n_rows, n_cols = np.nonzero(inside)[0], n_rows[inside], n_cols[inside]
            degree[me] += 1
            in_hole = hole[n_rows, n_cols]
            sources.append(me[in_hole])
            targets.append(index[n_rows[in_hole], n_cols[in_hole]])
            self._known.append((me[~in_hole], n_rows[~in_hole], n_cols[~in_hole]))
            touching[me[~in_hole]] = True
        part_of = ndimage.label(hole)[0][rows, cols]
        self._free = ~np.isin(part_of, np.unique(part_of[touching]))
        degree[self._free] = 1
        source, target = np.concatenate(sources), np.concatenate(targets)
        linked = ~self._free[source]
        matrix = sparse.csc_matrix(
            (
                np.concatenate([-np.ones(int(linked.sum())), degree]),
                (np.concatenate([source[linked], np.arange(count)]),
                 np.concatenate([target[linked], np.arange(count)])),
            ),
            shape=(count, count),
        )  # fmt: skip
        self._solver = splu(matrix) if count else None

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """(H, W, C) ``values`` with the hole's pixels replaced by their harmonic extension
        (only the values at the hole's known neighbours are read)."""
        result = values.astype(np.float64, copy=True)
        if self._solver is None:
            return result
        rhs = np.zeros((self.count, values.shape[2]))
        for me, rows, cols in self._known:
            np.add.at(rhs, me, values[rows, cols])
        rhs[self._free] = 0
        result[self.hole] = self._solver.solve(rhs).reshape(self.count, -1)
        return result


class LocalMeans:
    """Gaussian means of images over the pixels where ``weight`` (H, W) is 1; the weight's own
    blur (the denominator) is computed once for every image the harmoniser sees."""

    def __init__(self, weight: np.ndarray, sigma: float):
        self.weight = weight.astype(np.float64)
        self.sigma = sigma
        blurred = ndimage.gaussian_filter(self.weight, sigma)
        self.denominator = np.maximum(blurred, 1e-6)[..., None]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(H, W, C) -> the (H, W, C) local means (float64)."""
        weighted = image.astype(np.float64) * self.weight[..., None]
        return ndimage.gaussian_filter(weighted, (self.sigma, self.sigma, 0)) / self.denominator


def level_sigma(level_width: int, image_width: int) -> float:
    """The seam Gaussian at a level ``level_width`` px wide showing ``image_width`` image px."""
    return max(MIN_SIGMA, SEAM_SIGMA * level_width / image_width)


class SeamHarmonizer:
    """Removes the colour step at the border of one hole, for any estimate of its content.

    ``known`` (1 or B, 3, H, W) holds the image, ``keep_mask`` (1, 1, H, W) is 1 where it is
    known (the sampler's convention); a pixel belongs to the hole where the mask is below 0.5,
    and the offset is applied in proportion to 1 - keep_mask (a soft selection edge gets part
    of it), so known pixels never change. ``sigma`` is the Gaussian, in pixels of this size,
    over which each side's colour is taken. A hole of more than MAX_UNKNOWNS pixels is solved
    on a grid coarsened by a whole factor and the smooth offset interpolated back.
    """

    def __init__(self, known: torch.Tensor, keep_mask: torch.Tensor, sigma: float):
        self.known = known.float()
        self.weight = 1 - keep_mask.float()
        self.hole = keep_mask[0, 0].float().cpu().numpy() < 0.5
        self.size = self.hole.shape
        self.factor = max(1, math.ceil(math.sqrt(self.hole.sum() / MAX_UNKNOWNS)))
        self._extend: HarmonicExtension | None = None
        if self.hole.any() and not self.hole.all():
            self._outside = LocalMeans(~self.hole, sigma)
            self._inside = LocalMeans(self.hole, sigma)
            coarse_hole = self.hole
            if self.factor > 1:
                coarse_hole = _shrink(torch.from_numpy(self.hole.astype(np.float32))[None, None],
                                      self.factor)[0, 0].numpy() >= 0.5  # fmt: skip
            self._extend = HarmonicExtension(coarse_hole)

    def __call__(self, estimate: torch.Tensor) -> torch.Tensor:
        """``estimate`` (B, 3, H, W) in [-1, 1] of the whole window with the hole's colour step
        against the known pixels removed; outside the hole it is returned unchanged."""
        if self._extend is None:
            return estimate
        batch, channels, height, width = estimate.shape
        weight = self.weight.to(estimate.device)
        image = self.known.to(estimate.device) * (1 - weight) + estimate.float() * weight
        # All variations at once: their channels side by side share the one factorisation.
        stacked = image.cpu().permute(2, 3, 0, 1).reshape(height, width, -1).numpy()
        step = self._outside(stacked) - self._inside(stacked)
        offset = torch.from_numpy(step).float().permute(2, 0, 1)[None]
        if self.factor > 1:
            offset = _shrink(offset, self.factor)
        field = self._extend(offset[0].permute(1, 2, 0).numpy())
        offset = torch.from_numpy(field).float().permute(2, 0, 1)[None]
        if self.factor > 1:
            offset = F.interpolate(offset, size=self.size, mode="bilinear", align_corners=False)
        offset = offset[0].reshape(batch, channels, height, width).to(estimate.device)
        corrected = estimate.float() + offset * weight
        return corrected.clamp(-1, 1).to(estimate.dtype)


def per_item(seams: Sequence[SeamHarmonizer]) -> Callable[[torch.Tensor], torch.Tensor]:
    """One correction for a batch whose item i has a hole of its own: item i by seams[i]."""

    def correct(estimate: torch.Tensor) -> torch.Tensor:
        return torch.cat([seam(estimate[i : i + 1]) for i, seam in enumerate(seams)])

    return correct


def _shrink(tensor: torch.Tensor, factor: int) -> torch.Tensor:
    """(1, C, H, W) area-averaged to 1/factor of its size (rounded up)."""
    height, width = tensor.shape[-2:]
    return F.interpolate(tensor, size=(-(-height // factor), -(-width // factor)), mode="area")
