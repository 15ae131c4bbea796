"""A denoiser over a level larger than the model likes: overlapping tiles, blended per call.

Each model call predicts every tile, and the predictions (noise and, for learned-variance
models, the variance interpolation) are averaged over the overlaps with weights that fall
towards each tile's edges. The blend is linear, so a perfect denoiser stays perfect, and every
step of the sampler sees one seamless prediction for the whole level.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .denoiser import Denoiser, Prediction
from .regions import Rect


def edge_ramp(length: int, fade: int, device: torch.device) -> torch.Tensor:
    """1 in the middle, falling linearly to ~0 over ``fade`` pixels at both ends (never 0)."""
    position = torch.arange(length, device=device, dtype=torch.float32) + 0.5
    if fade <= 0:
        return torch.ones(length, device=device)
    return torch.minimum(position, length - position).div(fade).clamp(max=1.0)


def tile_weights(tile: Rect, fade: int, device: torch.device) -> torch.Tensor:
    """(1, 1, h, w) blending weights of one tile."""
    rows = edge_ramp(tile.height, fade, device)
    cols = edge_ramp(tile.width, fade, device)
    return (rows[:, None] * cols[None, :])[None, None]


class TiledDenoiser:
    """``denoiser(x, t)`` over a whole level, evaluated tile by tile (``batch_tiles`` at once).

    ``on_call`` runs after every model call (progress, cancellation). Pixels no tile covers are
    known pixels (tiles holding nothing to generate were left out): their noise is predicted as 0;
    the sampler replaces them with the known image at every step anyway.
    """

    def __init__(
        self,
        denoiser: Denoiser,
        tiles: Sequence[Rect],
        fade: int,
        on_call: Callable[[int], None] | None = None,
        batch_tiles: int = 1,
    ):
        self.denoiser = denoiser
        self.tiles = tuple(tiles)
        self.fade = fade
        self.on_call = on_call
        self.batch_tiles = max(1, batch_tiles)
        self._weights: dict[tuple[Rect, torch.device], torch.Tensor] = {}

    def __call__(self, x: torch.Tensor, timesteps: torch.Tensor) -> Prediction:
        if len(self.tiles) == 1 and self.tiles[0] == Rect(0, 0, x.shape[-1], x.shape[-2]):
            prediction = self.denoiser(x, timesteps)
            self._called(1)
            return prediction
        eps = torch.zeros_like(x)
        total = torch.zeros((1, 1, *x.shape[-2:]), device=x.device, dtype=torch.float32)
        frac: torch.Tensor | None = None
        for start in range(0, len(self.tiles), self.batch_tiles):
            group = self.tiles[start : start + self.batch_tiles]
            predictions = self._predict(x, timesteps, group)
            for tile, prediction in zip(group, predictions):
                weight = self._weight(tile, x.device)
                rows, cols = tile.slices
                eps[..., rows, cols] += prediction.eps.float().mul(weight).to(eps.dtype)
                total[..., rows, cols] += weight
                if prediction.variance_frac is not None:
                    frac = torch.zeros_like(x) if frac is None else frac
                    weighted = prediction.variance_frac.float().mul(weight)
                    frac[..., rows, cols] += weighted.to(x.dtype)
            self._called(len(group))
        covered = total.clamp(min=1e-8)
        eps = (eps.float() / covered).to(x.dtype)
        if frac is not None:
            frac = (frac.float() / covered).to(x.dtype)
        return Prediction(eps, frac)

    def _predict(
        self, x: torch.Tensor, timesteps: torch.Tensor, group: Sequence[Rect]
    ) -> list[Prediction]:
        """Predictions for the tiles of ``group``, in one model call."""
        batch = x.shape[0]
        pieces = torch.cat([x[..., tile.slices[0], tile.slices[1]] for tile in group])
        prediction = self.denoiser(pieces, timesteps.repeat(len(group)))
        eps = prediction.eps.split(batch)
        fracs = (
            prediction.variance_frac.split(batch)
            if prediction.variance_frac is not None
            else [None] * len(group)
        )
        return [Prediction(e, f) for e, f in zip(eps, fracs)]

    def _weight(self, tile: Rect, device: torch.device) -> torch.Tensor:
        key = (tile, device)
        if key not in self._weights:
            self._weights[key] = tile_weights(tile, self.fade, device)
        return self._weights[key]

    def _called(self, calls: int) -> None:
        if self.on_call is not None:
            self.on_call(calls)
