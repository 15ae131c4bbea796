"""Fill-quality metrics over the hole: SWD of 7x7 patches, sharpness ratio, PSNR, SSIM.

Images are (H, W, 3) uint8 RGB; ``hole`` is (H, W) bool, True where the method filled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PATCH = 7
LEVELS = 3
# What each level of the SWD's Laplacian pyramid sees: the finest band (pixel-scale texture), the
# next band (2x), and the low-pass residual at 1/4 size (layout and colour).
LEVEL_NAMES = ("fine", "middle", "coarse")
PROJECTIONS = 128
MAX_PATCHES = 4096
RING = 8  # px of known image just outside the hole that the sharpness ratio compares against


@dataclass(frozen=True)
class FillScores:
    swd: float  # mean over pyramid levels, x1e3 like Karras et al.
    swd_levels: tuple[float, ...]
    sharpness: float  # mean |Laplacian| in the hole / in the ring just outside it
    psnr: float
    ssim: float


def laplacian_pyramid(image: np.ndarray, levels: int = LEVELS) -> list[np.ndarray]:
    """Band-pass levels (finest first) and the low-pass residual last; float32."""
    import cv2

    current = image.astype(np.float32)
    pyramid = []
    for _ in range(levels - 1):
        smaller = cv2.pyrDown(current)
        up = cv2.pyrUp(smaller, dstsize=(current.shape[1], current.shape[0]))
        pyramid.append(current - up)
        current = smaller
    pyramid.append(current)
    return pyramid


def hole_at_level(hole: np.ndarray, level: int) -> np.ndarray:
    """A level-k pixel is in the hole if any full-size pixel it covers is."""
    block = 2**level
    height, width = -(-hole.shape[0] // block), -(-hole.shape[1] // block)
    padded = np.zeros((height * block, width * block), bool)
    padded[: hole.shape[0], : hole.shape[1]] = hole
    return padded.reshape(height, block, width, block).any(axis=(1, 3))


def patches_at(level_image: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N, 7*7*C) patches centred on ``centres`` (N, 2) rows/cols, reflect-padded at borders."""
    half = PATCH // 2
    padded = np.pad(level_image, ((half, half), (half, half), (0, 0)), mode="reflect")
    offsets = np.arange(PATCH)
    rows = centres[:, 0, None, None] + offsets[None, :, None]
    cols = centres[:, 1, None, None] + offsets[None, None, :]
    return padded[rows, cols].reshape(len(centres), -1)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> float:
    """Mean |sorted projection difference| over random unit directions (equal-size sets)."""
    directions = rng.standard_normal((a.shape[1], PROJECTIONS))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    projected_a = np.sort(a @ directions, axis=0)
    projected_b = np.sort(b @ directions, axis=0)
    return float(np.abs(projected_a - projected_b).mean())


def swd_in_hole(
    truth: np.ndarray, fill: np.ndarray, hole: np.ndarray, seed: int = 0
) -> list[float]:
    """SWD (x1e3) between the 7x7 patch sets of truth and fill centred in the hole, per level.

    Both sets are normalised with the TRUTH's per-channel mean and std (Karras et al. normalise
    each set by its own statistics, which would forgive a fill for losing contrast, i.e. blur).
    """
    rng = np.random.default_rng(seed)
    scores = []
    for level, (truth_level, fill_level) in enumerate(
        zip(laplacian_pyramid(truth), laplacian_pyramid(fill))
    ):
        centres = np.argwhere(
            hole_at_level(hole, level)[: truth_level.shape[0], : truth_level.shape[1]]
        )
        if len(centres) == 0:
            scores.append(float("nan"))
            continue
        if len(centres) > MAX_PATCHES:
            centres = centres[rng.choice(len(centres), MAX_PATCHES, replace=False)]
        truth_patches = patches_at(truth_level, centres)
        fill_patches = patches_at(fill_level, centres)
        channels = truth_level.shape[2]
        per_channel = truth_patches.reshape(len(centres), -1, channels)
        mean = per_channel.mean(axis=(0, 1))
        std = per_channel.std(axis=(0, 1)) + 1e-6
        tile_mean, tile_std = np.tile(mean, PATCH * PATCH), np.tile(std, PATCH * PATCH)
        scores.append(
            1e3
            * sliced_wasserstein(
                (truth_patches - tile_mean) / tile_std, (fill_patches - tile_mean) / tile_std, rng
            )
        )
    return scores


def sharpness_ratio(image: np.ndarray, hole: np.ndarray) -> float:
    """Mean |Laplacian| of the grey image inside the hole over the same in a ring outside it."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    laplacian = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
    kernel = np.ones((2 * RING + 1, 2 * RING + 1), np.uint8)
    ring = cv2.dilate(hole.astype(np.uint8), kernel).astype(bool) & ~hole
    if not ring.any() or not hole.any():
        return float("nan")
    return float(laplacian[hole].mean() / max(laplacian[ring].mean(), 1e-6))


def psnr_in_hole(truth: np.ndarray, fill: np.ndarray, hole: np.ndarray) -> float:
    error = (truth[hole].astype(np.float64) - fill[hole].astype(np.float64)) ** 2
    mse = float(error.mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim_in_hole(truth: np.ndarray, fill: np.ndarray, hole: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    _, ssim_map = structural_similarity(truth, fill, channel_axis=2, data_range=255, full=True)
    return float(ssim_map.mean(axis=2)[hole].mean())


def score_fill(truth: np.ndarray, fill: np.ndarray, hole: np.ndarray, seed: int = 0) -> FillScores:
    """Every metric of one fill against its ground truth."""
    levels = swd_in_hole(truth, fill, hole, seed)
    return FillScores(
        swd=float(np.nanmean(levels)),
        swd_levels=tuple(levels),
        sharpness=sharpness_ratio(fill, hole),
        psnr=psnr_in_hole(truth, fill, hole),
        ssim=ssim_in_hole(truth, fill, hole),
    )
