"""Training images for the embedded model: offline, licence-clean, with random multi-scale crops.

Only images whose own documentation states public domain or CC0 are used; the table below is the
single source of truth and the model card is generated from it. scikit-learn's sample images
(china.jpg, flower.jpg, CC-BY-2.0) are held out for validation and must never appear here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# Images larger than this (short side) are downscaled once at load time: crops are later resized
# to 64-128 px anyway, and resizing a 1400 px crop every step would dominate the step time.
MAX_SHORT_SIDE = 512

# Held out for validation (scikit-learn's load_sample_images); checked by the tests.
VALIDATION_ONLY = ("china.jpg", "flower.jpg")


@dataclass(frozen=True)
class TrainingImage:
    """One training image and where it comes from, for the model card."""

    name: str
    source: str
    licence: str
    description: str


def _skimage(name: str) -> TrainingImage:
    """Build an entry for a scikit-image bundled image (licences checked in its docstrings)."""
    licences = {
        "astronaut": ("public domain (NASA)", "astronaut Eileen Collins, portrait"),
        "chelsea": ("CC0 (photographer Stefan van der Walt)", "a cat"),
        "coffee": ("CC0 (photographer Rachel Michetti)", "a cup of coffee"),
        "rocket": ("public domain (SpaceX)", "a rocket on the launch pad"),
        "hubble_deep_field": ("public domain (NASA)", "galaxies, Hubble deep field"),
        "retina": ("CC0 1.0 (Wikimedia Commons)", "fundus photograph of a retina"),
        "camera": ("CC0 (photographer Lav Varshney)", "a man with a camera (grey)"),
        "brick": ("CC0 (CC0Textures Bricks25)", "brick wall texture (grey)"),
        "grass": ("CC0 (CC0Textures)", "grass texture (grey)"),
        "gravel": ("CC0 (CC0Textures Gravel04)", "gravel texture (grey)"),
        "text": ("public domain", "printed text on a page (grey)"),
        "clock": ("public domain (photographer Stefan van der Walt)", "a wall clock (grey)"),
    }
    licence, description = licences[name]
    return TrainingImage(name, f"scikit-image skimage.data.{name}()", licence, description)


# Deliberately excluded although bundled: coins and immunohistochemistry ("no known copyright
# restrictions" is not a licence), moon (no licence stated), lfw_subset (faces of real people).
TRAINING_IMAGES: tuple[TrainingImage, ...] = (
    *(
        _skimage(name)
        for name in (
            "astronaut",
            "chelsea",
            "coffee",
            "rocket",
            "hubble_deep_field",
            "retina",
            "camera",
            "brick",
            "grass",
            "gravel",
            "text",
            "clock",
        )
    ),  # fmt: skip
    TrainingImage(
        "grace_hopper",
        "matplotlib sample data grace_hopper.jpg",
        "public domain (U.S. Navy photograph)",
        "portrait of Grace Hopper",
    ),
)


def _load_pixels(image: TrainingImage) -> np.ndarray:
    """Return the image as uint8 HxWx3 (grey expanded to RGB)."""
    if image.name == "grace_hopper":
        import matplotlib.cbook
        import matplotlib.image

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
            pixels = matplotlib.image.imread(handle, format="jpg")
    else:
        import skimage.data

        pixels = getattr(skimage.data, image.name)()
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, :3]).astype(np.uint8)


def pixels_to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float 3xHxW in [0, 1], downscaled so the short side is <= MAX_SHORT_SIDE.

    Used for the small bundled images and the evaluation crops; training photos keep their native
    pixels in an ``ImagePyramid`` instead.
    """
    tensor = torch.from_numpy(pixels).permute(2, 0, 1).float().div(255.0)
    short = min(tensor.shape[1:])
    if short > MAX_SHORT_SIDE:
        scale = MAX_SHORT_SIDE / short
        size = (round(tensor.shape[1] * scale), round(tensor.shape[2] * scale))
        tensor = F.interpolate(tensor[None], size=size, mode="bilinear", antialias=True)[0]
    return tensor.clamp(0.0, 1.0)


@dataclass(frozen=True)
class ImagePyramid:
    """One training image at native pixels and halved repeatedly (uint8 3xHxW each).

    Crops at any scale are cut from the level just finer than they need and resized from there,
    so a whole-frame crop of a 4K photo costs as little as a 1:1 crop.
    """

    levels: tuple[torch.Tensor, ...]

    @property
    def short_side(self) -> int:
        return min(self.levels[0].shape[1:])


def build_pyramid(
    pixels: np.ndarray, smallest: int = 64, finest_short_side: int | None = None
) -> ImagePyramid:
    """uint8 HxWx3 -> an ImagePyramid down to ``smallest``.

    The finest level is the native pixels, or the image downscaled so its short side is
    ``finest_short_side`` when it is larger: the densest crops then show a photo as a frame of
    that size shows it, not the camera's 1:1 pixels (often soft: lens blur, demosaicing, JPEG).
    """
    level = torch.from_numpy(np.array(pixels[:, :, :3])).permute(2, 0, 1).contiguous()
    short = min(level.shape[1:])
    if finest_short_side is not None and short > finest_short_side:
        scale = finest_short_side / short
        size = tuple(max(1, round(side * scale)) for side in level.shape[1:])
        level = F.interpolate(level[None].float(), size=size, mode="area")[0]
        level = level.round().clamp(0, 255).to(torch.uint8)
    levels = [level]
    while min(level.shape[1:]) >= 2 * smallest:
        halved = F.interpolate(level[None].float(), scale_factor=0.5, mode="area")[0]
        level = halved.round().clamp(0, 255).to(torch.uint8)
        levels.append(level)
    return ImagePyramid(tuple(levels))


def load_training_images(
    images: tuple[TrainingImage, ...] = TRAINING_IMAGES,
) -> list[torch.Tensor]:
    """Load every bundled training image as a float 3xHxW tensor in [0, 1]."""
    return [pixels_to_tensor(_load_pixels(image)) for image in images]


PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg")


def photo_files(folder: Path, split: str) -> list[Path]:
    """The photos of one split ("train" or "val") fetched by ``photo_sources`` into ``folder``."""
    directory = folder / split
    if not directory.is_dir():
        raise FileNotFoundError(
            f"{directory}: no photos; fetch them with "
            f"python -m repaint_fill_tools.training.photo_sources --out {folder}"
        )
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


def load_photo(path: Path) -> np.ndarray:
    """One photo as uint8 HxWx3 at its native pixels (EXIF orientation applied)."""
    from PIL import Image, ImageOps

    with Image.open(path) as raw:
        return np.asarray(ImageOps.exif_transpose(raw).convert("RGB"))


def load_training_pyramids(
    photo_folder: Path | None, finest_short_side: int | None = None
) -> list[ImagePyramid]:
    """Every training image as an ImagePyramid: the bundled images plus the fetched photos.

    ``finest_short_side`` caps the densest crops' pixel density (see ``build_pyramid``).
    """
    pixels = [_load_pixels(image) for image in TRAINING_IMAGES]
    if photo_folder is not None:
        pixels += [load_photo(path) for path in photo_files(photo_folder, "train")]
    return [build_pyramid(image, finest_short_side=finest_short_side) for image in pixels]


@dataclass(frozen=True)
class CropSettings:
    """How crops are drawn: output size, smallest crop side and colour jitter strengths."""

    resolution: int = 64
    min_crop: int = 48
    max_crop: int | None = None  # the largest crop side; None: the whole short side
    brightness: float = 0.05  # additive, in [0, 1] units
    contrast: float = 0.1  # multiplicative around the crop mean: 1 +- contrast


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    """One uniform float in [low, high) from the given generator."""
    return low + (high - low) * torch.rand((), generator=generator).item()


def crop_side(short_side: int, settings: CropSettings, generator: torch.Generator) -> int:
    """A crop side in source pixels, log-uniform from 1:1 pixels to the whole short side.

    Log-uniform scale gives every octave the same share: native grain (side = resolution, no
    resizing) as often as whole-scene layout (the full frame downscaled). ``max_crop`` and a
    large ``min_crop`` narrow the range (the held-out check's 1:1 and whole-frame crops).
    """
    high = min(short_side, settings.max_crop or short_side)
    low = min(max(settings.resolution, settings.min_crop), high)
    return min(high, round(low * (high / low) ** _uniform(generator, 0.0, 1.0)))


def random_crop(
    image: ImagePyramid | torch.Tensor, settings: CropSettings, generator: torch.Generator
) -> torch.Tensor:
    """One augmented square crop of ``image`` at ``settings.resolution``, in [-1, 1].

    The scale is drawn by ``crop_side``; the crop is cut from the pyramid level just finer than
    the output needs. Only brightness/contrast are jittered: hue shifts would teach colours the
    photos never had.
    """
    pyramid = image if isinstance(image, ImagePyramid) else _float_pyramid(image)
    side = crop_side(pyramid.short_side, settings, generator)
    level = 0
    while level + 1 < len(pyramid.levels) and side / 2 ** (level + 1) >= settings.resolution:
        level += 1
    source = pyramid.levels[level]
    height, width = source.shape[1:]
    level_side = min(height, width, max(1, round(side / 2**level)))
    top = int(torch.randint(0, height - level_side + 1, (), generator=generator))
    left = int(torch.randint(0, width - level_side + 1, (), generator=generator))
    crop = source[:, top : top + level_side, left : left + level_side][None].float()
    if source.dtype == torch.uint8:
        crop = crop / 255.0
    size = (settings.resolution, settings.resolution)
    if level_side != settings.resolution:
        down = level_side > settings.resolution
        crop = F.interpolate(crop, size=size, mode="bilinear", antialias=down)
    crop = crop[0]
    if torch.rand((), generator=generator).item() < 0.5:
        crop = crop.flip(-1)
    contrast = _uniform(generator, 1.0 - settings.contrast, 1.0 + settings.contrast)
    brightness = _uniform(generator, -settings.brightness, settings.brightness)
    mean = crop.mean()
    crop = ((crop - mean) * contrast + mean + brightness).clamp(0.0, 1.0)
    return crop * 2.0 - 1.0


def _float_pyramid(image: torch.Tensor) -> ImagePyramid:
    """A one-level pyramid for a float 3xHxW image in [0, 1] (small bundled and test images)."""
    return ImagePyramid((image,))


def crop_batch(
    images: list[ImagePyramid] | list[torch.Tensor],
    batch_size: int,
    settings: CropSettings,
    generator: torch.Generator,
) -> torch.Tensor:
    """A batch of crops (NCHW, [-1, 1]); each item from an image chosen uniformly at random."""
    indices = torch.randint(0, len(images), (batch_size,), generator=generator).tolist()
    return torch.stack([random_crop(images[index], settings, generator) for index in indices])
