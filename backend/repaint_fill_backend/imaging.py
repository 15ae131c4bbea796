"""Pixels in and out: reading images and masks, working size, scaling, compositing.

Conventions: the wire/file mask is 8-bit coverage, 255 = fill, 0 = keep. It becomes ``keep_mask``
(1 = keep) exactly once, in ``to_model_tensors``. Compositing uses the soft coverage as alpha.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .exceptions import ImageInputError
from .regions import Rect

# Pillow's decompression-bomb guard, set explicitly: 64 megapixels is more than any crop we fill.
MAX_IMAGE_PIXELS = 64 * 1024 * 1024
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")


def open_image(path: str | Path) -> Image.Image:
    """Open an image file with EXIF orientation applied; clear errors for unreadable files."""
    try:
        with Image.open(path) as raw:
            raw.load()
            return ImageOps.exif_transpose(raw)
    except FileNotFoundError as error:
        raise ImageInputError(f"{path}: no such file") from error
    except IsADirectoryError as error:
        raise ImageInputError(f"{path}: is a folder, expected an image file") from error
    except Image.DecompressionBombError as error:
        raise ImageInputError(
            f"{path}: image too large (over {MAX_IMAGE_PIXELS} pixels); crop or scale it first"
        ) from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageInputError(f"{path}: not a readable image ({error})") from error


def to_rgb8(image: Image.Image) -> np.ndarray:
    """Any Pillow image as (H, W, 3) uint8 sRGB-ish RGB (16-bit scaled, palette expanded)."""
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if values.max() > 255 or image.mode != "I" else 255.0
        gray = np.clip(np.round(values / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "F":
        gray = np.clip(np.round(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(
        image.convert("RGBA" if "transparency" in image.info else image.mode).convert("RGB")
    )


def coverage_from_mask(mask: Image.Image) -> np.ndarray:
    """Mask image -> (H, W) uint8 coverage, 255 = fill. Colour masks use their luminance."""
    if mask.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(mask, dtype=np.float64)
        peak = 65535.0 if values.max() > 255 else 255.0
        return np.clip(np.round(values / peak * 255.0), 0, 255).astype(np.uint8)
    if mask.mode in ("LA", "RGBA", "PA"):
        mask = mask.convert("RGBA")
        mask = Image.alpha_composite(Image.new("RGBA", mask.size, (0, 0, 0, 255)), mask)
    return np.asarray(mask.convert("L"))


def working_size(crop_size: tuple[int, int], native_size: int, stride: int) -> tuple[int, int]:
    """Longest side = the model's native size; each side a multiple of ``stride`` (>= stride)."""
    width, height = crop_size
    scale = native_size / max(width, height)
    return (
        max(stride, round(width * scale / stride) * stride),
        max(stride, round(height * scale / stride) * stride),
    )


def scaled_coverage(coverage: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Coverage scaled to ``size`` (w, h), bilinear: a partly covered pixel stays covered."""
    if coverage.shape[::-1] == tuple(size):
        return coverage
    return np.asarray(Image.fromarray(coverage).resize(size, Image.Resampling.BILINEAR))


def known_share(coverage: np.ndarray, size: tuple[int, int]) -> float:
    """Share of pixels still fully known (coverage 0) after scaling the mask to ``size``."""
    return float(np.mean(scaled_coverage(coverage, size) == 0))


def fill_working_size(crop_coverage: np.ndarray, native_size: int, stride: int) -> tuple[int, int]:
    """The working size for a crop: native, unless scaling down would erase the known pixels.

    Fine masks (alternating lines, every second pixel) vanish when a crop is scaled down: every
    scaled pixel is partly covered, so nothing is known any more. Then the crop is worked on at
    its own size, up to twice the native size (the model is convolutional; 4x the cost per call).
    """
    height, width = crop_coverage.shape
    size = working_size((width, height), native_size, stride)
    known_at_full_size = known_share(crop_coverage, (width, height))
    if known_share(crop_coverage, size) >= 0.5 * known_at_full_size:
        return size
    return working_size((width, height), min(max(width, height), 2 * native_size), stride)


def to_model_tensors(
    crop_rgb: np.ndarray, crop_coverage: np.ndarray, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale a crop to the working size: (known in [-1, 1] (1,3,h,w), keep_mask (1,1,h,w)).

    keep_mask is 1 only where the scaled coverage is exactly 0, so partially covered pixels are
    generated (and later blended by their soft coverage).
    """
    # What lies under the selection is being replaced: fill it with the known pixels' mean so
    # the scaling filter does not smear it into the known border.
    known_pixels = crop_coverage == 0
    if known_pixels.any() and not known_pixels.all():
        crop_rgb = crop_rgb.copy()
        crop_rgb[~known_pixels] = crop_rgb[known_pixels].mean(axis=0).round().astype(np.uint8)
    image = Image.fromarray(crop_rgb).resize(size, Image.Resampling.LANCZOS)
    known = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0)
    keep_mask = torch.from_numpy((scaled_coverage(crop_coverage, size) == 0).astype(np.float32))
    return known.permute(2, 0, 1)[None], keep_mask[None, None]


def from_model_tensor(sample: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """One (3, h, w) sample in [-1, 1] -> (H, W, 3) uint8 scaled back to the crop size."""
    pixels = ((sample.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    image = Image.fromarray(pixels.permute(1, 2, 0).numpy())
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS))


def composite(original: np.ndarray, fill: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Blend ``fill`` over ``original`` (same dtype/shape) with alpha = coverage / 255.

    Where coverage is 0 the original values are returned unchanged (byte-identical).
    """
    alpha = coverage.astype(np.float64) / 255.0
    if original.ndim == 3:
        alpha = alpha[..., None]
    blended = original.astype(np.float64) * (1 - alpha) + fill.astype(np.float64) * alpha
    result = np.round(blended).astype(original.dtype)
    untouched = coverage == 0
    result[untouched] = original[untouched]
    return result


def fill_in_original_mode(
    original: Image.Image, fill_rgb: np.ndarray, coverage: np.ndarray, crop: Rect
) -> Image.Image:
    """Composite an RGB fill of the crop into the full image, keeping the input's pixel format
    where it can (RGB, RGBA, L, LA, 16-bit gray); other formats come back as RGB(A)."""
    image = original
    if image.mode not in ("RGB", "RGBA", "L", "LA", *SIXTEEN_BIT_MODES):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    pixels = np.array(image)
    region = crop.slices
    cover = coverage[region]
    target = _fill_in_mode(fill_rgb, image.mode, pixels.dtype)
    if image.mode in ("RGBA", "LA"):
        colour = pixels[region][..., :-1]
        pixels[region + (slice(0, -1),)] = composite(colour, target, cover)
        alpha = pixels[region][..., -1]
        pixels[region + (-1,)] = composite(alpha, np.full_like(alpha, 255), cover)
    else:
        pixels[region] = composite(pixels[region], target, cover)
    return Image.fromarray(pixels)


def _fill_in_mode(fill_rgb: np.ndarray, mode: str, dtype: np.dtype) -> np.ndarray:
    """The RGB fill converted to the colour channels of ``mode``."""
    if mode in ("RGB", "RGBA"):
        return fill_rgb
    gray = np.asarray(Image.fromarray(fill_rgb).convert("L"))
    if mode in SIXTEEN_BIT_MODES:
        return (gray.astype(np.int64) * 257).astype(dtype)
    return gray[..., None] if mode == "LA" else gray


def save_atomically(image: Image.Image, path: str | Path) -> None:
    """Write through a temporary file in the same folder and rename: no half-written outputs."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ImageInputError(f"{target.parent}: output folder does not exist")
    suffix = target.suffix or ".png"
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=suffix, dir=target.parent)
    os.close(fd)
    try:
        if suffix.lower() in (".jpg", ".jpeg") and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(temp_name, format=Image.registered_extensions().get(suffix.lower(), "PNG"))
        # mkstemp creates 0600; the output is an ordinary file with the usual permissions.
        os.chmod(temp_name, 0o666 & ~_current_umask())
        os.replace(temp_name, target)
    except (OSError, ValueError, KeyError) as error:
        Path(temp_name).unlink(missing_ok=True)
        raise ImageInputError(f"cannot write {target}: {error}") from error


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def before_after_picture(
    image: Image.Image, mask: Image.Image, result: Image.Image, gap: int = 8
) -> Image.Image:
    """The input with the region to fill shown white, and the result, side by side."""
    before = np.array(image.convert("RGB"))
    before[coverage_from_mask(mask) > 0] = 255
    width, height = image.size
    picture = Image.new("RGB", (2 * width + gap, height), "white")
    picture.paste(Image.fromarray(before), (0, 0))
    picture.paste(result.convert("RGB"), (width + gap, 0))
    return picture
