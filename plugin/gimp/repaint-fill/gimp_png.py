"""Results decoded by GIMP's own PNG loader (C), not by the core's standard-library decoder.

GIMP loads files, so the PNG goes through a private temporary file into a scratch image (never
shown, deleted at once); its pixels come back through GEGL. A 2000x2000 result takes a fraction
of a second this way, where the pure-Python decoder takes seconds. (GEGL's own loader
operations are not available inside a plug-in process: libgimp does not load GEGL's modules.)
"""

import os
import struct
import tempfile
from typing import Tuple

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402
from repaint_fill_core.errors import UnsupportedImage  # noqa: E402
from repaint_fill_core.png import PNG_SIGNATURE  # noqa: E402

RGBA_U8 = "R'G'B'A u8"


def png_size(png: bytes) -> Tuple[int, int]:
    """(width, height) from the PNG header."""
    if png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise UnsupportedImage("The backend returned something that is not a PNG image.")
    return struct.unpack(">II", png[16:24])


def decode_png_gimp(png: bytes) -> Tuple[int, int, int, bytes]:
    """(width, height, 4, R,G,B,A bytes): the core's decoder signature, done by GIMP."""
    width, height = png_size(png)
    with tempfile.TemporaryDirectory(prefix="repaint-fill-") as folder:
        path = os.path.join(folder, "result.png")
        with open(path, "wb") as handle:
            handle.write(png)
        scratch = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
    if scratch is None:
        raise UnsupportedImage("GIMP could not read the backend's result.")
    try:
        layers = scratch.get_layers()
        if len(layers) != 1 or (layers[0].get_width(), layers[0].get_height()) != (width, height):
            raise UnsupportedImage("GIMP read the backend's result with an unexpected size.")
        region = Gegl.Rectangle.new(0, 0, width, height)
        buffer = layers[0].get_buffer()
        pixels = bytes(buffer.get(region, 1.0, RGBA_U8, Gegl.AbyssPolicy.NONE))
    finally:
        scratch.delete()
    return width, height, 4, pixels
