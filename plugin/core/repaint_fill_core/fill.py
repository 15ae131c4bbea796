"""Host-agnostic orchestration of one fill, used by the Krita and GIMP adapters.

The adapter (1) plans the crop with ``plan_fill``, (2) reads the crop's RGBA pixels and selection
coverage, (3) builds a ``JobUpload`` with ``build_job_upload``, (4) runs ``execute`` (off the UI
thread where the host has one) and (5) inserts the returned ``FillLayer`` values at ``layer.rect``.
Pixel buffers here are always 8-bit, interleaved, rows top to bottom, straight alpha: RGBA for
colour (4 bytes a pixel) and one byte a pixel for coverage (0..255, 255 = fully selected).
"""

import functools
import random
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

from .client import BackendClient, ProgressCallback, is_local_url, run_job
from .errors import BackendError, NoSelection, RepaintFillError
from .geometry import CanvasRect, context_crop
from .limits import MAX_WIDGET_SEED
from .png import decode_png, encode_png

LAYER_PREFIX = "RePaint Fill"
# A PNG decoder: bytes -> (width, height, channels, interleaved 8-bit pixels). Hosts pass their
# own (Krita: ``qt_images.decode_png_qimage``, GIMP: ``gimp_png.decode_png_gimp``); this
# standard-library one is the fallback.
PngDecoder = Callable[[bytes], Tuple[int, int, int, bytes]]


@dataclass(frozen=True)
class FillOptions:
    """What the user chose; unset (None) values are left to the backend's preset."""

    preset: Optional[str] = None
    seed: Optional[int] = None
    variations: int = 1
    context_margin: int = 64
    model: Optional[str] = None
    steps: Optional[int] = None
    jump_length: Optional[int] = None
    jump_n_sample: Optional[int] = None
    budget: Optional[float] = None  # seconds: the backend picks the schedule that fits
    detail: Optional[str] = None  # native | coarse, when the backend offers the choice

    def to_params(self) -> Dict[str, Any]:
        """The job params JSON of the HTTP API (only the keys that are set).

        A time budget replaces the preset and the schedule keys: the backend picks them.
        """
        # The backend plans every region's crop inside the image it gets and never uses less
        # context than this margin (the host sends the selection's box grown by it).
        params: Dict[str, Any] = {
            "variations": max(1, int(self.variations)),
            "context_margin": max(0, int(self.context_margin)),
        }
        keys = ["seed", "model", "detail"]
        if self.budget:
            params["budget"] = float(self.budget)
        else:
            keys += ["preset", "steps", "jump_length", "jump_n_sample"]
        for key in keys:
            value = getattr(self, key)
            if value is not None:
                params[key] = value
        return params


@dataclass(frozen=True)
class JobUpload:
    """One job's upload (image, wire mask, params) and what is needed to read the answer.

    Not the backend's ``engine.FillRequest``: the server builds that from this upload.
    """

    crop: CanvasRect
    image_png: bytes
    mask_png: bytes
    coverage: bytes
    params: Dict[str, Any]


@dataclass(frozen=True)
class FillLayer:
    """One result: RGBA pixels of ``rect`` (canvas coordinates), alpha = selection coverage."""

    name: str
    rect: CanvasRect
    rgba: bytes
    seed: Optional[int]


def layer_name(seed: Optional[int], model: Optional[str] = None) -> str:
    """The new layer's name, e.g. "RePaint Fill (embedded, seed 42)"."""
    details = [short_model_name(model)] if model else []
    details += ["seed {}".format(seed)] if seed is not None else []
    return "{} ({})".format(LAYER_PREFIX, ", ".join(details)) if details else LAYER_PREFIX


def short_model_name(model: str) -> str:
    """A model as a layer name shows it: a local folder or file by its last part."""
    if model.startswith(("/", "~", ".")) or "\\" in model or ":" in model:
        return model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return model  # a registry name or a hub id (owner/name)


def group_name(count: int) -> str:
    """The name of the group that holds several variations."""
    return "{} ({} variations)".format(LAYER_PREFIX, count)


def plan_fill(
    selection_bbox: Optional[CanvasRect], canvas: CanvasRect, context_margin: int
) -> CanvasRect:
    """What to read from the host and send: selection bbox + margin, clamped to the canvas.

    The backend plans the crops of the fill (one per region of the selection) inside it.
    """
    if selection_bbox is None:
        raise NoSelection()
    return context_crop(selection_bbox, canvas, context_margin)


def flatten_on_white(rgba: bytes) -> bytes:
    """RGB of straight-alpha RGBA composited over white (transparent context reads as white)."""
    if len(rgba) % 4:
        raise ValueError("RGBA buffer length must be a multiple of 4")
    alpha = rgba[3::4]
    if alpha.count(255) == len(alpha):  # fully opaque: just drop alpha
        rgb = bytearray(len(alpha) * 3)
        for channel in range(3):
            rgb[channel::3] = rgba[channel::4]
        return bytes(rgb)
    rgb = bytearray(len(alpha) * 3)
    table = [
        [(value * a + 255 * (255 - a) + 127) // 255 for value in range(256)] for a in range(256)
    ]
    for channel in range(3):
        rgb[channel::3] = bytes(map(lambda v, a: table[a][v], rgba[channel::4], alpha))
    return bytes(rgb)


def with_seed(options: FillOptions) -> FillOptions:
    """The options with a concrete seed: a random one when none is set.

    Choosing it on our side means the layer name shows the seed even if a backend omits X-Seed.
    """
    if options.seed is not None:
        return options
    return replace(options, seed=random.SystemRandom().randint(0, MAX_WIDGET_SEED))


def build_job_upload(
    crop: CanvasRect, crop_rgba: bytes, coverage: bytes, options: FillOptions
) -> JobUpload:
    """Encode the crop image and the wire mask (255 = fill); choose a seed when none is set."""
    pixels = crop.width * crop.height
    if len(crop_rgba) != pixels * 4 or len(coverage) != pixels:
        raise ValueError(
            "crop buffers do not match the crop size {}x{}".format(crop.width, crop.height)
        )
    if not any(coverage):
        raise NoSelection()
    params = with_seed(options).to_params()
    return JobUpload(
        crop=crop,
        image_png=encode_png(crop.width, crop.height, 3, flatten_on_white(crop_rgba)),
        mask_png=encode_png(crop.width, crop.height, 1, coverage),
        coverage=bytes(coverage),
        params=params,
    )


def result_layer(
    upload: JobUpload,
    png: bytes,
    seed: Optional[int],
    decode: PngDecoder = decode_png,
    model: Optional[str] = None,
) -> FillLayer:
    """Decode one result PNG into a layer whose alpha is exactly the selection coverage.

    ``png`` is what ``decode`` reads: PNG bytes, or pixels that arrived uncompressed.
    """
    width, height, channels, pixels = decode(png)
    crop = upload.crop
    if (width, height) != (crop.width, crop.height):
        raise BackendError(
            "bad_result",
            "The backend returned a {}x{} result for a {}x{} crop.".format(
                width, height, crop.width, crop.height
            ),
        )
    if channels not in (3, 4):
        raise BackendError("bad_result", "The backend returned a non-colour result.")
    if channels == 4:
        rgba = bytearray(pixels)
    else:
        rgba = bytearray(width * height * 4)
        for channel in range(3):
            rgba[channel::4] = pixels[channel::channels]
    # Soft selections stay soft, and nothing outside the selection is ever painted.
    rgba[3::4] = upload.coverage
    name = layer_name(seed, model or upload.params.get("model"))
    return FillLayer(name, crop, bytes(rgba), seed)


def execute(
    client: BackendClient,
    upload: JobUpload,
    on_progress: Optional[ProgressCallback] = None,
    should_cancel: Optional[Callable[[], bool]] = None,
    poll_interval: float = 0.5,
    decode: PngDecoder = decode_png,
    on_preview: Optional[Callable[[bytes], None]] = None,
) -> List[FillLayer]:
    """Run the job on the backend and turn its results into layers (safe off the UI thread).

    A backend on this machine sends its results uncompressed; others send PNGs for ``decode``.
    """
    if is_local_url(client.url):
        fetch = functools.partial(client.result_pixels, decode=decode)
        decode = _decoded  # the pixels arrive decoded
    else:
        fetch = client.result
    results = run_job(
        client,
        upload.image_png,
        upload.mask_png,
        upload.params,
        on_progress,
        should_cancel,
        poll_interval,
        on_preview,
        fetch,
    )
    first_seed = upload.params.get("seed")
    model = upload.params.get("model") or _loaded_model(client)
    layers = []
    for index, (png, seed) in enumerate(results):
        if seed is None and isinstance(first_seed, int):
            seed = first_seed + index
        layers.append(result_layer(upload, png, seed, decode, model))
    return layers


def _decoded(pixels: Tuple[int, int, int, bytes]) -> Tuple[int, int, int, bytes]:
    return pixels


def _loaded_model(client: BackendClient) -> Optional[str]:
    """The backend's loaded model: the one a job without ``model`` just ran with."""
    try:
        model = client.health().get("model")
    except RepaintFillError:
        return None  # the name is a courtesy; the fill itself succeeded
    return str(model) if model else None
