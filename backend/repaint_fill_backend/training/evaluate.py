"""Held-out check for the model card: epsilon loss on training images vs unseen photos.

The validation photos are scikit-learn's china.jpg and flower.jpg (never trained on). A large gap
between the two losses means the model memorised its few training images.
"""

from __future__ import annotations

import torch

from repaint_fill_backend.training.data import (
    CropSettings,
    load_training_images,
    pixels_to_tensor,
    sample_batch,
)
from repaint_fill_backend.training.model import linear_alphas_cumprod
from repaint_fill_backend.training.train import diffusion_loss


def load_validation_images() -> list[torch.Tensor] | None:
    """scikit-learn's sample photos as 3xHxW in [0, 1], or None without scikit-learn."""
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        return None
    return [pixels_to_tensor(pixels.copy()) for pixels in load_sample_images().images]


@torch.no_grad()
def mean_loss(model: torch.nn.Module, images: list[torch.Tensor], resolution: int) -> float:
    """Epsilon MSE over 4 fixed batches of 16 crops; seeded so every model sees the same data."""
    generator = torch.Generator().manual_seed(1234)
    alphas_cumprod = linear_alphas_cumprod()
    settings = CropSettings(resolution=resolution)
    torch.manual_seed(1234)  # the same timesteps and noise for training and held-out images
    losses = [
        float(diffusion_loss(model, sample_batch(images, 16, settings, generator), alphas_cumprod))
        for _ in range(4)
    ]
    return sum(losses) / len(losses)


def train_vs_held_out(model: torch.nn.Module, resolution: int = 64) -> dict[str, float] | None:
    """{"train": loss, "held_out": loss} at ``resolution``, or None when validation is missing."""
    validation = load_validation_images()
    if validation is None:
        return None
    model = model.float().eval()
    return {
        "train": mean_loss(model, load_training_images(), resolution),
        "held_out": mean_loss(model, validation, resolution),
    }
