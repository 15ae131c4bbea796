"""Results decoded by GEGL's own PNG loader (C), not by the core's standard-library decoder.

GEGL reads a file, so the PNG goes through a private temporary file; a 2000x2000 result is
pixels in a fraction of a second this way, where the pure-Python decoder takes seconds.
"""

import os
import struct
import tempfile
from typing import Tuple

import gi

gi.require_version("Gegl", "0.4")
from gi.repository import Gegl  # noqa: E402
from repaint_fill_core.errors import UnsupportedImage  # noqa: E402

RGBA_U8 = "R'G'B'A u8"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> Tuple[int, int]:
    """(width, height) from the PNG header."""
    if png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise UnsupportedImage("The backend returned something that is not a PNG image.")
    return struct.unpack(">II", png[16:24])


def decode_png(png: bytes) -> Tuple[int, int, int, bytes]:
    """(width, height, 4, R,G,B,A bytes): the core's decoder signature, done by GEGL."""
    width, height = png_size(png)
    with tempfile.TemporaryDirectory(prefix="repaint-fill-") as folder:
        path = os.path.join(folder, "result.png")
        with open(path, "wb") as handle:
            handle.write(png)
        buffer = Gegl.Buffer.new(RGBA_U8, 0, 0, width, height)
        graph = Gegl.Node()
        load = graph.create_child("gegl:png-load")
        load.set_property("path", path)
        write = graph.create_child("gegl:write-buffer")
        write.set_property("buffer", buffer)
        load.link(write)
        write.process()
    region = Gegl.Rectangle.new(0, 0, width, height)
    pixels = bytes(buffer.get(region, 1.0, RGBA_U8, Gegl.AbyssPolicy.NONE))
    if len(pixels) != width * height * 4:
        raise UnsupportedImage("GEGL could not read the backend's result.")
    return width, height, 4, pixels
