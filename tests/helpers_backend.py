"""Small real parts for backend tests: a tiny random UNet2DModel in diffusers format, images,
the installed console command."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def console_script() -> str:
    """The `repaint-fill` console script installed beside this interpreter (the venv's bin/ or
    Scripts/), found without $PATH; the test fails with what to do when it is missing."""
    folder = Path(sys.executable).parent
    found = shutil.which("repaint-fill", path=str(folder))
    if found is None:
        pytest.fail(
            f"no `repaint-fill` console script beside {sys.executable}: install the backend into "
            "this environment (bash scripts/setup-dev.sh, or pip install -e .)"
        )
    return found


def save_tiny_unet(
    folder: Path,
    *,
    hub_layout: bool = True,
    sample_size: int = 32,
    learned_variance: bool = False,
    safetensors: bool = True,
    seed: int = 0,
) -> Path:
    """A random-init diffusers UNet2DModel (~50k parameters), saved like the hub's DDPM repos
    (model_index.json + unet/ + scheduler/) or as a bare UNet folder."""
    import torch
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=sample_size,
        in_channels=3,
        out_channels=6 if learned_variance else 3,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
    )
    folder.mkdir(parents=True, exist_ok=True)
    if not hub_layout:
        unet.save_pretrained(folder, safe_serialization=safetensors)
        return folder
    unet.save_pretrained(folder / "unet", safe_serialization=safetensors)
    variance = "learned_range" if learned_variance else "fixed_small"
    DDPMScheduler(num_train_timesteps=1000, variance_type=variance).save_pretrained(
        folder / "scheduler"
    )
    (folder / "model_index.json").write_text(
        '{"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"], '
        '"scheduler": ["diffusers", "DDPMScheduler"]}\n'
    )
    return folder


def gradient_image(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A deterministic colourful test image."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [
            x * 255 // max(width - 1, 1),
            y * 255 // max(height - 1, 1),
            (x + y) * 127 // max(width + height - 2, 1),
        ],
        axis=-1,
    ).astype(np.uint8)
    return Image.fromarray(rgb).convert(mode)


def box_mask(
    width: int, height: int, box: tuple[int, int, int, int], value: int = 255
) -> Image.Image:
    """An 8-bit gray mask, ``value`` inside box (x0, y0, x1, y1), 0 elsewhere."""
    mask = np.zeros((height, width), dtype=np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = value
    return Image.fromarray(mask)


def result_like_png(size: int) -> tuple[bytes, bytes]:
    """(PNG, its RGBA bytes): a photo-like size x size result, encoded as the server encodes
    results (Pillow, compress_level=1, adaptive row filters); alpha 255 in a box, 0 outside."""
    import io
    from importlib import resources

    from repaint_fill_backend.imaging import to_rgb8

    example = resources.files("repaint_fill_backend") / "examples" / "example.png"
    with Image.open(str(example)) as photo:
        rgb = to_rgb8(photo.resize((size, size), Image.Resampling.BICUBIC))
    alpha = np.asarray(box_mask(size, size, (size // 8, size // 8, 7 * size // 8, 7 * size // 8)))
    rgba = np.dstack([rgb, alpha]).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), rgba.tobytes()


def assert_filled_scene(scene: Path, report: str) -> dict:
    """A CLI fill of ``scene`` (image.png, mask.png -> out.png): same size, every unmasked pixel
    as it was, some masked pixel changed; returns the JSON report ``scene / report``."""
    original = np.asarray(Image.open(scene / "image.png"))
    out = np.asarray(Image.open(scene / "out.png"))
    mask = np.asarray(Image.open(scene / "mask.png"))
    assert out.shape == original.shape
    assert (out[mask == 0] == original[mask == 0]).all()
    assert (out[mask == 255] != original[mask == 255]).any()
    return json.loads((scene / report).read_text())
