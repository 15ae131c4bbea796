"""Detail matching: give a fill the fine grain of the pixels around it.

A small diffusion model's fill at a photo's own pixels comes back softer than the photo (its
high frequencies at 0.2-0.5 of the surroundings'), and a soft patch shows however right its
colours are. Matching grain is a standard compositing step; here it is done with the fill's own
detail only: the image's high frequencies (the image minus its Gaussian blur) are measured in a
ring of known pixels around the hole and in the fill, locally (a wide Gaussian neighbourhood, so
a sky above a meadow asks for the sky's grain at the top of the hole and the meadow's at the
bottom), and the fill's high frequencies are scaled up by the ratio of their strengths. The
strength is a geometric mean of the energy, so the sparse strong edges of the surroundings (a
power line across a sky) do not ask for grain where the area between them is smooth. Nothing
is added that the model did not paint, a fill already as detailed as its surroundings is left
as it is (the gain is never below 1), and the gain is capped.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .imaging import composite

DETAIL_SIGMA = 1.5  # image px: the blur whose residual is the grain that is matched
AREA_SIGMA = 32.0  # image px: the neighbourhood over which grain strength is measured
AREA_STEP = 8  # image px per cell of the coarse grid that strength maps are measured on
RING = 24  # image px of known pixels around the hole that set the target
SEAM = 5  # image px either side of the border left out of both measures (the blur sees across)
MAX_GAIN = 4.0
ENERGY_FLOOR = 0.25  # (grey levels)^2: below this, energy is uint8 rounding, not grain
MIN_SUPPORT = 0.05  # neighbourhood share of measured pixels below which the hole's mean is used


def match_detail(fill: np.ndarray, original: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """``fill`` (H, W, 3) uint8, a crop's fill, with the hole's fine detail raised to the level
    of the ``original`` pixels around it.

    ``coverage`` (H, W) uint8 is the wire's mask (255 = fill). Detail is measured on the
    picture the user will see (``fill`` over ``original``, alpha = coverage / 255). The change
    fades in over SEAM px from where coverage drops below 255, so neither the seam nor a
    feathered edge (whose picture mixes in the original's grain) is sharpened; pixels at
    coverage 0 never change. A crop with no known pixels around the hole is returned as it is.
    """
    hole = coverage > 0
    if not hole.any() or hole.all():
        return fill
    outside = ndimage.distance_transform_edt(~hole)  # px to the hole, 0 inside it
    ring = (outside > SEAM) & (outside <= RING)
    if not ring.any():
        return fill
    inner = ndimage.distance_transform_edt(hole) > SEAM
    if not inner.any():  # a hole thinner than the seam bands: measure all of it
        inner = hole
    seen = composite(original, fill, coverage).astype(np.float32)
    detail = seen - ndimage.gaussian_filter(seen, (DETAIL_SIGMA, DETAIL_SIGMA, 0))
    log_energy = np.log(detail**2 + ENERGY_FLOOR)
    gain = np.clip(np.exp((local_mean(log_energy, ring) - local_mean(log_energy, inner)) / 2),
                   1.0, MAX_GAIN)  # fmt: skip
    fade = np.clip(ndimage.distance_transform_edt(coverage == 255) / SEAM, 0, 1)
    matched = fill.astype(np.float32)
    matched[hole] += (detail * (gain - 1) * fade[..., None])[hole]
    return np.clip(np.rint(matched), 0, 255).astype(np.uint8)


def local_mean(values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """(H, W, C) Gaussian means (AREA_SIGMA) of ``values`` over the pixels ``where`` is True,
    at every pixel; where the neighbourhood holds too few of them, the mean over all of them.

    Measured on a grid of AREA_STEP px cells and interpolated back (the maps are smooth), so the
    wide neighbourhood costs a blur of a 64x smaller map.
    """
    mask = torch.from_numpy(where.astype(np.float32))[None, None]
    weighted = torch.from_numpy(values * where[..., None]).permute(2, 0, 1)[None]
    cells = [-(-size // AREA_STEP) for size in where.shape]
    sigma = AREA_SIGMA / AREA_STEP
    blurred_mask = _blur(F.interpolate(mask, size=cells, mode="area"), sigma)
    blurred = _blur(F.interpolate(weighted, size=cells, mode="area"), sigma)
    overall = values[where].mean(axis=0)
    support = blurred_mask.clamp(min=1e-6)
    means = blurred / support
    share = (blurred_mask / MIN_SUPPORT).clamp(max=1.0)
    means = share * means + (1 - share) * torch.from_numpy(overall)[None, :, None, None]
    full = F.interpolate(means, size=where.shape, mode="bilinear", align_corners=False)
    return full[0].permute(1, 2, 0).numpy()


def _blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """(1, C, h, w) Gaussian blurred per channel, zeros beyond the edges."""
    array = maps[0].numpy()
    blurred = ndimage.gaussian_filter(array, (0, sigma, sigma), mode="constant")
    return torch.from_numpy(blurred)[None]
