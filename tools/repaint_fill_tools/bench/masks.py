"""The paper's mask types (plus a centred box) as coverage arrays: (H, W) uint8, 255 = fill.

Wide and narrow are seeded random brush strokes in the spirit of the paper's (LaMa-style) masks;
the others are exact: half, alternating lines, super-resolve 2x, expand (only the centre 64x64
of 256x256 known, scaled with the image), and a centred box (96x96 at 256x256).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

MaskMaker = Callable[[int, int], np.ndarray]


def box(size: int, seed: int = 0) -> np.ndarray:
    """A centred square hole of 96/256 of the side."""
    del seed
    coverage = np.zeros((size, size), np.uint8)
    hole = round(size * 96 / 256)
    start = (size - hole) // 2
    coverage[start : start + hole, start : start + hole] = 255
    return coverage


def _strokes(size: int, seed: int, widths: tuple[int, int], strokes: tuple[int, int]) -> np.ndarray:
    """Random polyline brush strokes with round joints, widths given at 256 px."""
    rng = np.random.default_rng(seed)
    scale = size / 256
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(strokes[0], strokes[1] + 1))):
        x, y = rng.uniform(0.15, 0.85, 2) * size
        width = max(1, round(rng.uniform(*widths) * scale))
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(3, 7))):
            angle += rng.uniform(-1.2, 1.2)
            length = rng.uniform(20, 60) * scale
            nx = float(np.clip(x + length * np.cos(angle), 0, size - 1))
            ny = float(np.clip(y + length * np.sin(angle), 0, size - 1))
            draw.line([(x, y), (nx, ny)], fill=255, width=width)
            radius = width / 2
            draw.ellipse([nx - radius, ny - radius, nx + radius, ny + radius], fill=255)
            x, y = nx, ny
    return np.asarray(canvas, dtype=np.uint8).copy()


def wide(size: int, seed: int = 0) -> np.ndarray:
    return _strokes(size, seed, widths=(18, 32), strokes=(3, 5))


def narrow(size: int, seed: int = 0) -> np.ndarray:
    return _strokes(size, seed, widths=(4, 9), strokes=(5, 8))


def half(size: int, seed: int = 0) -> np.ndarray:
    """The right half is filled, the left half known."""
    del seed
    coverage = np.zeros((size, size), np.uint8)
    coverage[:, size // 2 :] = 255
    return coverage


def alternating_lines(size: int, seed: int = 0) -> np.ndarray:
    """Every second row unknown."""
    del seed
    coverage = np.zeros((size, size), np.uint8)
    coverage[1::2, :] = 255
    return coverage


def super_resolve(size: int, seed: int = 0) -> np.ndarray:
    """Keep every second pixel in x and y (25% known)."""
    del seed
    coverage = np.full((size, size), 255, np.uint8)
    coverage[::2, ::2] = 0
    return coverage


def expand(size: int, seed: int = 0) -> np.ndarray:
    """Only the centre 64/256 of the side is known."""
    del seed
    coverage = np.full((size, size), 255, np.uint8)
    known = round(size * 64 / 256)
    start = (size - known) // 2
    coverage[start : start + known, start : start + known] = 0
    return coverage


MASKS: dict[str, MaskMaker] = {
    "box": box,
    "wide": wide,
    "narrow": narrow,
    "half": half,
    "lines": alternating_lines,
    "sr2x": super_resolve,
    "expand": expand,
}
