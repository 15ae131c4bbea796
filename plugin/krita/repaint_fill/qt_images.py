"""Images through Qt's own codecs: results and previews decoded by QImage (C++), not in Python.

Qt's PNG reader turns a 2000x2000 result into pixels in a fraction of a second, where the
standard-library decoder of the core takes seconds. Safe off the UI thread (QImage, not QPixmap).
"""

from typing import Any, Tuple

from .qt_compat import QByteArray, QtGui
from .repaint_fill_core.errors import UnsupportedImage


def read_png(png: bytes) -> Any:
    """A QImage of the PNG bytes in straight-alpha RGBA8888 (R,G,B,A in memory)."""
    image = QtGui.QImage.fromData(QByteArray(png), "PNG")
    if image.isNull():
        raise UnsupportedImage("The backend returned an image Qt cannot read (not a PNG).")
    return image.convertToFormat(QtGui.QImage.Format.Format_RGBA8888)


def decode_png_qimage(png: bytes) -> Tuple[int, int, int, bytes]:
    """(width, height, 4, R,G,B,A bytes): the core's decoder signature, done by QImage."""
    image = read_png(png)
    width, height = image.width(), image.height()
    row = width * 4  # RGBA8888 rows are 4-byte aligned already: no padding to strip
    if image.bytesPerLine() != row:
        raise UnsupportedImage("Qt returned padded image rows; cannot read the result.")
    bits = image.constBits()
    bits.setsize(row * height)
    return width, height, 4, bytes(bits)
