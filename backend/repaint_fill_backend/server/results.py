"""The result layer: an RGBA PNG the size of the request image, alpha = selection coverage."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..engine import FillRequest, FillResult
from ..imaging import to_rgb8


def result_rgba(request: FillRequest, result: FillResult, index: int) -> np.ndarray:
    """(H, W, 4) uint8: RGB = the fill inside the crop (the input outside it), A = coverage."""
    crop = result.crop
    rgba = np.empty((request.image.height, request.image.width, 4), dtype=np.uint8)
    rgba[..., :3] = to_rgb8(request.image)
    rgba[(*crop.slices, slice(0, 3))] = result.fills[index]
    # Alpha is exactly the wire coverage, so it is 0 wherever the mask is 0 and the host's pixels
    # under the new layer show through unchanged.
    rgba[..., 3] = request.coverage
    return rgba


def png_to_rgba(png: bytes) -> tuple[bytes, int, int]:
    """(R,G,B,A bytes, width, height) of a stored result PNG: the uncompressed transfer."""
    with Image.open(io.BytesIO(png)) as image:
        rgba = np.asarray(image.convert("RGBA"))
    return rgba.tobytes(), rgba.shape[1], rgba.shape[0]


def result_png(request: FillRequest, result: FillResult, index: int) -> bytes:
    """The PNG bytes of variation ``index`` (fast compression: these are short-lived)."""
    buffer = io.BytesIO()
    Image.fromarray(result_rgba(request, result, index)).save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()
