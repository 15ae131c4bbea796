#!/usr/bin/env python3
"""RePaint Fill for GIMP 3: fill the selection with RePaint diffusion inpainting, as a new layer;
RePaint Expand: grow the canvas and fill the new border.

GIMP adapter only: it reads the selection and the active layer's pixels, and writes the result
layer. Crop planning, the wire format, the backend protocol, starting the backend and the error
messages live in the shared host core ``repaint_fill_core`` installed next to this file.
"""

import os
import sys
from array import array
from typing import List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
import gimp_png  # noqa: E402
import job_watchdog  # noqa: E402
from gi.repository import Gegl, Gimp  # noqa: E402
from gimpfu_shim import (  # noqa: E402
    PF_CHOICE,
    PF_INT,
    PF_STRING,
    PluginError,
    main,
    progress_pulse,
    progress_start,
    progress_update,
    register,
)
from repaint_fill_core.client import BackendClient  # noqa: E402
from repaint_fill_core.config import PluginConfig, load_config  # noqa: E402
from repaint_fill_core.errors import NoSelection, RepaintFillError, UnsupportedImage  # noqa: E402
from repaint_fill_core.expand import (  # noqa: E402
    ExpandPlan,
    ExpandSides,
    build_expand_upload,
    expand_layer,
    plan_expand,
)
from repaint_fill_core.fill import (  # noqa: E402
    FillLayer,
    FillOptions,
    JobUpload,
    build_job_upload,
    execute,
    group_name,
    plan_fill,
)
from repaint_fill_core.geometry import CanvasRect  # noqa: E402
from repaint_fill_core.launcher import ensure_backend  # noqa: E402
from repaint_fill_core.limits import (  # noqa: E402
    MAX_CONTEXT_MARGIN,
    MAX_EXPAND_SIDE,
    MAX_TIME_BUDGET,
    MAX_VARIATIONS,
    MAX_WIDGET_SEED,
)

PROC_NAME = "plug-in-repaint-fill"
EXPAND_PROC_NAME = "plug-in-repaint-expand"
FROM_SETTINGS = "default"
MODEL_FROM_SETTINGS = "from settings"
PRESET_CHOICES = [
    (FROM_SETTINGS, "From the RePaint Fill settings"),
    ("fast", "Fast"),
    ("balanced", "Balanced"),
    ("paper", "Paper (T=250, 10 resamplings; slow)"),
]
# Detail: the backend's default (native) unless one is chosen; the backend advertises both.
DETAIL_CHOICES = [
    (FROM_SETTINGS, "The backend's default (native)"),
    ("native", "Native: refine large regions to the image's own pixels"),
    ("coarse", "Coarse: one pass at the model's size (faster, softer)"),
]
IMAGE_CLOSED = "The image was closed before RePaint Fill finished; nothing was done."
RGBA_U8 = gimp_png.RGBA_U8  # 8-bit babl format, the one the result decoder reads too
RGBA_FLOAT = "R'G'B'A float"


class WatchedClient(BackendClient):
    """A BackendClient whose submitted job is cancelled if this process dies (GIMP's Cancel)."""

    watchdog = None  # type: Optional[job_watchdog.Watchdog]

    def submit(self, image_png, mask_png, params):
        job_id = super().submit(image_png, mask_png, params)
        self.watchdog = job_watchdog.spawn(self.url, self.token, job_id)
        print("RePaint Fill: backend job {}".format(job_id), file=sys.stderr, flush=True)
        return job_id

    def release(self, job_finished: bool) -> None:
        """Tell the watchdog whether the job may be left alone (else it is cancelled)."""
        if self.watchdog is not None:
            self.watchdog.release(job_finished)
            self.watchdog = None


# --- pixels in and out ---------------------------------------------------------------------------


def is_high_bit_depth(image: Gimp.Image) -> bool:
    """True for 16/32-bit integer and half/float images (read and written as float)."""
    return not image.get_precision().value_nick.startswith("u8")


def _floats_to_u8(values: "array") -> bytes:
    # Clamp out-of-gamut float pixels; NaN compares false everywhere and becomes 0.
    return bytes(
        int(v * 255.0 + 0.5) if 0.0 < v < 1.0 else (255 if v >= 1.0 else 0) for v in values
    )


def read_buffer(buffer: Gegl.Buffer, rect: CanvasRect, babl_format: str, high_bit: bool) -> bytes:
    """8-bit pixels of ``rect`` (buffer coordinates) in ``babl_format`` (a u8 format name)."""
    region = Gegl.Rectangle.new(rect.x, rect.y, rect.width, rect.height)
    if not high_bit:
        return bytes(buffer.get(region, 1.0, babl_format, Gegl.AbyssPolicy.NONE))
    values = array("f")
    values.frombytes(
        buffer.get(region, 1.0, babl_format.replace("u8", "float"), Gegl.AbyssPolicy.NONE)
    )
    return _floats_to_u8(values)


def read_crop(drawable: Gimp.Drawable, crop: CanvasRect, high_bit: bool) -> bytes:
    """RGBA of the crop (canvas coordinates) from the layer; outside the layer is transparent."""
    offset_x, offset_y = drawable.get_offsets()[-2:]
    local = CanvasRect(crop.x - offset_x, crop.y - offset_y, crop.width, crop.height)
    return read_buffer(drawable.get_buffer(), local, RGBA_U8, high_bit)


def read_coverage_float(image: Gimp.Image, crop: CanvasRect) -> "array":
    """Selection coverage 0..1 of the crop, unquantised (for soft alpha on high-bit images)."""
    region = Gegl.Rectangle.new(crop.x, crop.y, crop.width, crop.height)
    values = array("f")
    values.frombytes(
        image.get_selection().get_buffer().get(region, 1.0, "Y float", Gegl.AbyssPolicy.NONE)
    )
    return values


def float_pixels(fill: FillLayer, coverage: "array") -> bytes:
    """RGBA float of a result: colour from the backend, alpha = exact selection coverage."""
    to_float = [value / 255.0 for value in range(256)]
    pixels = array("f", (to_float[value] for value in fill.rgba))
    for index, alpha8 in enumerate(fill.rgba[3::4]):
        # Pixels not sent as fill (coverage rounded to 0) stay fully transparent.
        pixels[index * 4 + 3] = coverage[index] if alpha8 else 0.0
    return pixels.tobytes()


# --- the layer(s) the user gets ------------------------------------------------------------------


def _new_layer(image: Gimp.Image, fill: FillLayer, coverage: Optional["array"]) -> Gimp.Layer:
    gray = image.get_base_type() == Gimp.ImageBaseType.GRAY
    layer_type = Gimp.ImageType.GRAYA_IMAGE if gray else Gimp.ImageType.RGBA_IMAGE
    rect = fill.rect
    layer = Gimp.Layer.new(
        image, fill.name, rect.width, rect.height, layer_type, 100.0, Gimp.LayerMode.NORMAL
    )
    buffer = layer.get_buffer()
    region = Gegl.Rectangle.new(0, 0, rect.width, rect.height)
    if coverage is None:
        buffer.set(region, RGBA_U8, fill.rgba)
    else:
        buffer.set(region, RGBA_FLOAT, float_pixels(fill, coverage))
    buffer.flush()
    return layer


def insert_layers(
    image: Gimp.Image,
    above: Optional[Gimp.Layer],
    fills: Sequence[FillLayer],
    coverage: Optional["array"],
) -> None:
    """Insert the results above ``above`` (a group for several variations), in one undo step."""
    parent = above.get_parent() if above is not None else None
    position = image.get_item_position(above) if above is not None else 0
    inserted = []  # type: List[Gimp.Layer]
    image.undo_group_start()
    try:
        if len(fills) > 1:
            group = Gimp.GroupLayer.new(image, group_name(len(fills)))
            image.insert_layer(group, parent, position)
            inserted.append(group)
            parent, position = group, 0
        for index, fill in enumerate(fills):
            layer = _new_layer(image, fill, coverage)
            image.insert_layer(layer, parent, position + index)
            inserted.append(layer)
            layer.set_offsets(fill.rect.x, fill.rect.y)
            layer.update(0, 0, fill.rect.width, fill.rect.height)
    except Exception:
        for item in reversed(inserted):
            if item.is_valid():
                image.remove_layer(item)
        raise
    finally:
        image.undo_group_end()
    Gimp.displays_flush()


# --- the procedure -------------------------------------------------------------------------------


def target_layer(drawables: Sequence[Gimp.Drawable]) -> Gimp.Layer:
    """The layer to read and to put the result above (a selected mask means its layer)."""
    if not drawables:
        raise PluginError("RePaint Fill needs an active layer: select the layer to fill from.")
    drawable = drawables[0]
    if isinstance(drawable, Gimp.LayerMask):
        drawable = Gimp.Layer.from_mask(drawable)
    if not isinstance(drawable, Gimp.Layer):
        raise PluginError("RePaint Fill works on layers: select a layer, not a channel or path.")
    return drawable


def selection_bbox(image: Gimp.Image) -> CanvasRect:
    """The selection's bounding box in canvas coordinates; NoSelection when there is none."""
    _ok, non_empty, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
    if not non_empty:
        raise NoSelection()
    return CanvasRect(x1, y1, x2 - x1, y2 - y1)


def check_image(image: Gimp.Image) -> None:
    """Refuse what the backend cannot take, before any work is done."""
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        raise UnsupportedImage(
            "RePaint Fill works on RGB and grayscale images, not indexed ones. Convert the image "
            "with Image > Mode > RGB, fill, then convert it back if you need to."
        )


def fill_options(
    config: PluginConfig,
    preset: str,
    seed: int,
    variations: int,
    margin: int,
    time_budget: int = 0,
    model: Optional[str] = None,
    detail: str = FROM_SETTINGS,
) -> FillOptions:
    """The user's choices; "from settings" / -1 mean the plug-in config (plugin.json, env).

    A time budget above 0 seconds replaces the preset: the backend picks the schedule that fits.
    """
    return FillOptions(
        preset=config.preset if preset in (None, "", FROM_SETTINGS) else preset,
        seed=seed if seed >= 0 else None,
        variations=max(1, min(MAX_VARIATIONS, variations)),
        context_margin=margin if margin >= 0 else config.context_margin,
        budget=float(time_budget) if time_budget > 0 else None,
        model=chosen_model(model),
        detail=None if detail in (None, "", FROM_SETTINGS) else detail,
    )


def chosen_model(model: Optional[str]) -> Optional[str]:
    """The model argument: None ("from settings": the backend's model) or a model's name."""
    model = (model or "").strip()
    return None if model in ("", MODEL_FROM_SETTINGS) else model


def run_backend(image: Gimp.Image, config: PluginConfig, upload: JobUpload) -> List[FillLayer]:
    """Start or find the backend, run the job with GIMP's progress bar; cancel if image closes."""

    def image_closed() -> bool:
        return not image.is_valid()

    def on_progress(step: int, total: int, eta: Optional[float]) -> None:
        left = "" if eta is None else ", about {:.0f} s left".format(eta)
        progress_update(
            step / max(1, total), "RePaint Fill: step {} of {}{}".format(step, total, left)
        )

    progress_pulse("RePaint Fill: connecting to the backend...")
    found = ensure_backend(config, should_cancel=image_closed)
    client = WatchedClient(found.url, found.token, found.timeout)
    progress_update(0.0, "RePaint Fill: waiting for the backend...")
    finished = False
    try:
        fills = execute(
            client, upload, on_progress, should_cancel=image_closed, decode=gimp_png.decode_png_gimp
        )
        finished = True
    finally:
        client.release(finished)
    return fills


def repaint_fill(
    image: Gimp.Image,
    drawables: Sequence[Gimp.Drawable],
    preset: str,
    seed: int,
    variations: int,
    context_margin: int,
    time_budget: int = 0,
    model: str = MODEL_FROM_SETTINGS,
    detail: str = FROM_SETTINGS,
) -> None:
    """Fill the selection with RePaint; the result goes into a new layer above the active one."""
    try:
        check_image(image)
        layer = target_layer(drawables)
        config = load_config()
        options = fill_options(
            config, preset, seed, variations, context_margin, time_budget, model, detail
        )
        canvas = CanvasRect(0, 0, image.get_width(), image.get_height())
        crop = plan_fill(selection_bbox(image), canvas, options.context_margin)
        high_bit = is_high_bit_depth(image)
        progress_start("RePaint Fill: reading the selection...")
        crop_rgba = read_crop(layer, crop, high_bit)
        coverage = read_buffer(image.get_selection().get_buffer(), crop, "Y u8", high_bit)
        upload = build_job_upload(crop, crop_rgba, coverage, options)
        try:
            fills = run_backend(image, config, upload)
        finally:
            if not image.is_valid():  # closed while waiting: the backend job was cancelled
                raise PluginError(IMAGE_CLOSED)
        coverage_float = read_coverage_float(image, crop) if high_bit else None
        insert_layers(image, layer if layer.is_valid() else None, fills, coverage_float)
    except RepaintFillError as exc:
        raise PluginError(str(exc)) from exc


def grow_and_insert(
    image: Gimp.Image, above: Optional[Gimp.Layer], plan: ExpandPlan, fill: FillLayer
) -> None:
    """Resize the canvas (layers keep their pixels and move by left/top) and add the border
    layer, as one undo group; if adding the layer fails, the old canvas size comes back."""
    old_width, old_height = image.get_width(), image.get_height()
    left, top = plan.sides.left, plan.sides.top
    image.undo_group_start()
    try:
        if not image.resize(plan.canvas.width, plan.canvas.height, left, top):
            raise PluginError("RePaint Expand: GIMP could not resize the canvas.")
        try:
            insert_layers(image, above, [fill], None)
        except Exception:
            image.resize(old_width, old_height, -left, -top)
            raise
    finally:
        image.undo_group_end()


def repaint_expand(
    image: Gimp.Image,
    drawables: Sequence[Gimp.Drawable],
    left: int,
    right: int,
    top: int,
    bottom: int,
    preset: str,
    seed: int,
    time_budget: int = 0,
) -> None:
    """Grow the canvas by the given pixels and fill the new border as a new layer.

    The fill runs first; the image is only changed once it has succeeded.
    """
    try:
        check_image(image)
        layer = target_layer(drawables)
        config = load_config()
        options = fill_options(config, preset, seed, 1, -1, time_budget)
        sides = ExpandSides(left, right, top, bottom)
        plan = plan_expand(image.get_width(), image.get_height(), sides, options.context_margin)
        progress_start("RePaint Expand: reading the image...")
        source = read_crop(layer, plan.source_rect, is_high_bit_depth(image))
        upload = build_expand_upload(plan, source, options)
        try:
            fills = run_backend(image, config, upload)
        finally:
            if not image.is_valid():  # closed while waiting: the backend job was cancelled
                raise PluginError(IMAGE_CLOSED)
        grow_and_insert(image, layer if layer.is_valid() else None, plan, expand_layer(fills[0]))
    except RepaintFillError as exc:
        raise PluginError(str(exc)) from exc


register(
    PROC_NAME,
    "Fill the selection with RePaint diffusion inpainting, as a new layer",
    "Sends the selection and the surrounding context of the active layer to the local RePaint "
    "Fill backend and puts the result in a new layer 'RePaint Fill (MODEL, seed N)' above it. The "
    "original pixels are never changed; undo removes the new layer.",
    "RePaint Fill contributors",
    "RePaint Fill contributors (MIT)",
    "2026",
    "RePaint Fill...",
    "RGB*, GRAY*",
    [
        (PF_CHOICE, "preset", "_Preset", FROM_SETTINGS, PRESET_CHOICES),
        (PF_INT, "seed", "_Seed (-1 = random)", -1, (-1, MAX_WIDGET_SEED)),
        (PF_INT, "variations", "_Variations", 1, (1, MAX_VARIATIONS)),
        (
            PF_INT,
            "context-margin",
            "Context _margin in px (-1 = from settings)",
            -1,
            (-1, MAX_CONTEXT_MARGIN),
        ),
        (
            PF_INT,
            "time-budget",
            "_Time budget in s (0 = use the preset)",
            0,
            (0, MAX_TIME_BUDGET),
        ),
        (
            PF_STRING,
            "model",
            "_Model (a name from `repaint-fill models`)",
            MODEL_FROM_SETTINGS,
            None,
        ),
        (PF_CHOICE, "detail", "_Detail", FROM_SETTINGS, DETAIL_CHOICES),
    ],
    [],
    repaint_fill,
    menu="<Image>/Filters/Enhance",
)

register(
    EXPAND_PROC_NAME,
    "Grow the canvas and fill the new border with RePaint, as a new layer",
    "Adds the given pixels on each side of the canvas (layers keep their pixels), sends the new "
    "border with the active layer's edge as context to the local RePaint Fill backend and puts "
    "the result in a new layer 'RePaint Expand (seed N)' above the active layer. One undo "
    "removes the layer and restores the canvas size; a failed or cancelled run changes nothing.",
    "RePaint Fill contributors",
    "RePaint Fill contributors (MIT)",
    "2026",
    "RePaint Expand...",
    "RGB*, GRAY*",
    [
        (PF_INT, "left", "_Left (px)", 0, (0, MAX_EXPAND_SIDE)),
        (PF_INT, "right", "_Right (px)", 0, (0, MAX_EXPAND_SIDE)),
        (PF_INT, "top", "_Top (px)", 0, (0, MAX_EXPAND_SIDE)),
        (PF_INT, "bottom", "_Bottom (px)", 0, (0, MAX_EXPAND_SIDE)),
        (PF_CHOICE, "preset", "_Preset", FROM_SETTINGS, PRESET_CHOICES),
        (PF_INT, "seed", "_Seed (-1 = random)", -1, (-1, MAX_WIDGET_SEED)),
        (
            PF_INT,
            "time-budget",
            "Time _budget in s (0 = use the preset)",
            0,
            (0, MAX_TIME_BUDGET),
        ),
    ],
    [],
    repaint_expand,
    menu="<Image>/Filters/Enhance",
)

if __name__ == "__main__":
    main()
