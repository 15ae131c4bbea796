"""Held-out check for the model card: epsilon loss on training images vs unseen photos.

The held-out photos are scikit-learn's china.jpg and flower.jpg and the fetched `val` split (never
trained on). Each image is scored on its own seeded crops (``per_image_loss``): photos differ in
difficulty by several times, so the held-out / training ratio comes with its bootstrap interval
over images. A gap well above 1 means the model memorised its training images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from repaint_fill_tools.training.data import (
    CropSettings,
    ImagePyramid,
    build_pyramid,
    crop_batch,
    load_photo,
    load_training_pyramids,
    photo_files,
    random_crop,
)
from repaint_fill_tools.training.loss import diffusion_loss
from repaint_fill_tools.training.model import linear_alphas_cumprod


def load_named_validation_images(photo_folder: Path | None = None) -> dict[str, ImagePyramid]:
    """Held-out photos by file name: scikit-learn's samples plus the fetched val/ split."""
    pyramids = {}
    try:
        from sklearn.datasets import load_sample_images

        samples = load_sample_images()
        for filename, pixels in zip(samples.filenames, samples.images, strict=True):
            pyramids[Path(filename).name] = build_pyramid(pixels.copy())
    except ImportError:
        pass
    if photo_folder is not None:
        for path in photo_files(photo_folder, "val"):
            pyramids[path.name] = build_pyramid(load_photo(path))
    return pyramids


def load_validation_images(photo_folder: Path | None = None) -> list[ImagePyramid] | None:
    """Held-out photos: scikit-learn's samples plus the fetched val/ split (None if none)."""
    return list(load_named_validation_images(photo_folder).values()) or None


# The breakdown by noise level: timestep bands from nearly clean (where a sampler adds the finest
# texture) to nearly pure noise (where it decides the layout).
NOISE_BANDS = ((0, 50), (50, 200), (200, 500), (500, 1000))
# ... and by crop scale: the training mix, the whole frame downscaled (what the coarse pass
# works on) and 1:1 pixels (what the native-detail pass works on).
CROP_SCALES = ("every scale", "whole frame", "1:1 pixels")


def scale_settings(scale: str, resolution: int) -> CropSettings:
    """Crop settings that draw only crops of one of ``CROP_SCALES``."""
    if scale == "every scale":
        return CropSettings(resolution=resolution)
    if scale == "whole frame":
        return CropSettings(resolution=resolution, min_crop=2**31)  # the whole short side
    if scale == "1:1 pixels":
        return CropSettings(resolution=resolution, min_crop=resolution, max_crop=resolution)
    raise ValueError(f"unknown crop scale {scale!r}; choose one of {', '.join(CROP_SCALES)}")


def seeded_loss(
    model: torch.nn.Module,
    clean: torch.Tensor,
    timesteps: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    generator: torch.Generator,
) -> float:
    """Epsilon MSE of ``clean`` noised at ``timesteps`` with noise drawn from ``generator``, in
    batches of 16: the same numbers for every model given the same generator state."""
    noise = torch.randn(clean.shape, generator=generator)
    chunks = zip(clean.split(16), timesteps.split(16), noise.split(16), strict=True)
    total = sum(
        float(diffusion_loss(model, chunk, alphas_cumprod, steps, eps)) * len(chunk)
        for chunk, steps, eps in chunks
    )
    return total / len(clean)


@torch.no_grad()
def loss_by_noise(
    model: torch.nn.Module,
    images: list[ImagePyramid],
    resolution: int,
    scale: str = "every scale",
    crops: int = 32,
) -> list[float]:
    """Epsilon MSE in each of ``NOISE_BANDS`` on ``crops`` fixed crops at ``scale``.

    Crops, timesteps and noise are seeded: every model is scored on the same noisy inputs, so a
    difference between two models is theirs alone. Shows where a lower overall loss comes from
    (a model can gain at high noise, the layout, and not at low noise, the texture).
    """
    generator = torch.Generator().manual_seed(1234)
    clean = crop_batch(images, crops, scale_settings(scale, resolution), generator)
    alphas_cumprod = linear_alphas_cumprod()
    losses = []
    for low, high in NOISE_BANDS:
        timesteps = torch.randint(low, high, (crops,), generator=generator)
        losses.append(seeded_loss(model, clean, timesteps, alphas_cumprod, generator))
    return losses


@torch.no_grad()
def mean_loss(model: torch.nn.Module, images: list[ImagePyramid], resolution: int) -> float:
    """Epsilon MSE over 8 fixed batches of 16 crops at every scale; seeded so every model sees
    the same data."""
    generator = torch.Generator().manual_seed(1234)
    alphas_cumprod = linear_alphas_cumprod()
    settings = CropSettings(resolution=resolution)
    torch.manual_seed(1234)  # the same timesteps and noise for training and held-out images
    losses = [
        float(diffusion_loss(model, crop_batch(images, 16, settings, generator), alphas_cumprod))
        for _ in range(8)
    ]
    return sum(losses) / len(losses)


def ratio_with_interval(
    held_out: np.ndarray, train: np.ndarray, draws: int = 2000
) -> tuple[float, float, float]:
    """Mean held-out loss / mean training loss, and its 5-95% bootstrap interval over images."""
    generator = np.random.default_rng(0)
    ratios = [
        generator.choice(held_out, held_out.size).mean()
        / generator.choice(train, train.size).mean()
        for _ in range(draws)
    ]
    low, high = np.percentile(ratios, [5, 95])
    return float(held_out.mean() / train.mean()), float(low), float(high)


def held_out_against(
    model: torch.nn.Module,
    training_sets: dict[str, list[ImagePyramid]],
    photo_folder: Path | None = None,
    resolution: int = 64,
) -> dict[str, dict[str, float]] | None:
    """Per-image losses at ``resolution`` (``per_image_loss``): the held-out photos' (scored
    once) against each named set of training images, with the held-out / training ratio and its
    interval over images: {set name: {"train", "held_out", "ratio", "low", "high"}}, or None
    when there is no held-out photo."""
    validation = load_validation_images(photo_folder)
    if validation is None:
        return None
    model = model.float().eval()
    unseen = np.asarray(per_image_loss(model, validation, resolution))
    results = {}
    for name, images in training_sets.items():
        seen = np.asarray(per_image_loss(model, images, resolution))
        ratio, low, high = ratio_with_interval(unseen, seen)
        results[name] = {"train": float(seen.mean()), "held_out": float(unseen.mean()),
                         "ratio": ratio, "low": low, "high": high}  # fmt: skip
    return results


def train_vs_held_out(
    model: torch.nn.Module, resolution: int = 64, photo_folder: Path | None = None
) -> dict[str, float] | None:
    """``held_out_against`` all of ``load_training_pyramids``: {"train", "held_out", "ratio",
    "low", "high"}, or None when there is no held-out photo."""
    results = held_out_against(
        model, {"train": load_training_pyramids(photo_folder)}, photo_folder, resolution
    )
    return None if results is None else results["train"]


@torch.no_grad()
def per_image_loss(
    model: torch.nn.Module, images: list[ImagePyramid], resolution: int = 64, crops: int = 32
) -> list[float]:
    """Epsilon MSE of each image on ``crops`` seeded crops at every scale, uniform timesteps.

    Image k's crops, timesteps and noise come from a generator seeded with k, so every model is
    scored on the same noisy inputs; the spread over images says how far a difference between
    two sets of images (training, held-out) is the images' own difficulty.
    """
    alphas_cumprod = linear_alphas_cumprod()
    settings = CropSettings(resolution=resolution)
    losses = []
    for index, image in enumerate(images):
        generator = torch.Generator().manual_seed(index)
        clean = torch.stack([random_crop(image, settings, generator) for _ in range(crops)])
        timesteps = torch.randint(0, alphas_cumprod.numel(), (crops,), generator=generator)
        losses.append(seeded_loss(model, clean, timesteps, alphas_cumprod, generator))
    return losses
