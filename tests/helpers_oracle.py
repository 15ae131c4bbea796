"""A perfect denoiser for engine tests: it knows the clean image, so a fill's result is exact.

A real model's output cannot be predicted; the oracle's epsilon is the one that makes the
sampler's clean estimate equal to the given truth, so tests can check the engine's wiring
(levels, tiles, seams, harmonisation) against known pixels.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from repaint_fill_backend.denoiser import LoadedModel, Prediction
from repaint_fill_backend.engine import Engine, FillRequest
from repaint_fill_backend.imaging import composite
from repaint_fill_backend.presets import SamplingSettings
from repaint_fill_backend.regions import Rect
from repaint_fill_backend.schedule import linear_betas

BETAS = linear_betas()
ABAR = np.cumprod(1 - BETAS)


class Oracle:
    """Knows the clean image of every level it is called at (a constant colour needs no
    position; otherwise ``where`` names the level and tile of the call)."""

    def __init__(self, truths: dict):
        self.truths = truths
        self.where: tuple[tuple[int, int], Rect] | None = None

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> Prediction:
        abar = torch.tensor(ABAR, dtype=torch.float64)[t].to(x.dtype).view(-1, 1, 1, 1)
        if "constant" in self.truths:
            clean = self.truths["constant"]
        elif self.where is not None:
            level, tile = self.where
            clean = self.truths[level][..., tile.slices[0], tile.slices[1]]
        else:
            clean = self.truths[tuple(x.shape[-2:])]
        return Prediction((x - abar.sqrt() * clean) / (1 - abar).sqrt())


def oracle_model(truths: dict, native: int) -> LoadedModel:
    """The oracle as a loaded model of native size ``native`` on the CPU in fp32."""
    return LoadedModel("oracle", Oracle(truths), BETAS, native, 8, 3, torch.device("cpu"),
                       torch.float32, 0)  # fmt: skip


def fills_without_and_with(
    model: LoadedModel,
    pixels: np.ndarray,
    coverage: np.ndarray,
    settings: SamplingSettings,
    step: str,
    **options,
) -> dict[bool, np.ndarray]:
    """The engine's fill over ``pixels`` as the user sees it, with the FillRequest flag ``step``
    off and on (seed 0), after checking that each report says which ran."""
    filled = {}
    for on in (False, True):
        request = FillRequest(Image.fromarray(pixels), coverage, settings, seed=0,
                              **options, **{step: on})  # fmt: skip
        result = Engine(model).fill(request)
        assert getattr(result.report, step) is on and result.report.to_json()[step] is on
        picture, region = pixels.copy(), result.crop.slices
        picture[region] = composite(pixels[region], result.fills[0], coverage[region])
        filled[on] = picture
    return filled
