"""Minimal 8-bit PNG encoder/decoder (zlib only): gray, gray+alpha, RGB and RGBA.

The wire format between the plug-ins and the backend is PNG. Hosts hand us raw interleaved bytes;
palette, 16-bit and interlaced PNGs are refused with a message that says why.
"""

import struct
import zlib
from typing import List, Tuple

from .errors import UnsupportedImage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# PNG colour type <-> interleaved channels per pixel (8-bit only).
_CHANNELS_BY_COLOR_TYPE = {0: 1, 4: 2, 2: 3, 6: 4}
_COLOR_TYPE_BY_CHANNELS = {channels: ctype for ctype, channels in _CHANNELS_BY_COLOR_TYPE.items()}
_COLOR_TYPE_NAMES = {0: "gray", 2: "RGB", 3: "palette", 4: "gray+alpha", 6: "RGBA"}


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def encode_png(width: int, height: int, channels: int, data: bytes, level: int = 6) -> bytes:
    """Encode interleaved 8-bit pixels (1, 2, 3 or 4 channels, rows top to bottom) as PNG."""
    if channels not in _COLOR_TYPE_BY_CHANNELS:
        raise ValueError("channels must be 1, 2, 3 or 4, got {}".format(channels))
    if width <= 0 or height <= 0:
        raise ValueError("image size must be positive, got {}x{}".format(width, height))
    stride = width * channels
    if len(data) != stride * height:
        raise ValueError(
            "expected {} bytes for {}x{}x{}, got {}".format(
                stride * height, width, height, channels, len(data)
            )
        )
    view = memoryview(data)
    # Filter type 0 (None) on every row: simple, and zlib does well enough on crops.
    raw = b"".join(b"\x00" + view[row * stride : (row + 1) * stride] for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE_BY_CHANNELS[channels], 0, 0, 0)
    return b"".join(
        [
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw, level)),
            _chunk(b"IEND", b""),
        ]
    )


def _read_chunks(png: bytes) -> List[Tuple[bytes, bytes]]:
    if not png.startswith(PNG_SIGNATURE):
        raise UnsupportedImage("Not a PNG image (bad signature).")
    chunks = []
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        payload = png[pos + 8 : pos + 8 + length]
        if len(payload) != length:
            raise UnsupportedImage("Truncated PNG image ({} chunk).".format(kind.decode("latin-1")))
        chunks.append((kind, payload))
        pos += 12 + length
        if kind == b"IEND":
            break
    return chunks


def _parse_header(payload: bytes) -> Tuple[int, int, int]:
    width, height, depth, color_type, _compression, _filter, interlace = struct.unpack(
        ">IIBBBBB", payload
    )
    name = _COLOR_TYPE_NAMES.get(color_type, "colour type {}".format(color_type))
    if color_type not in _CHANNELS_BY_COLOR_TYPE:
        raise UnsupportedImage(
            "PNG {} images are not supported: only 8-bit gray, gray+alpha, RGB and RGBA "
            "(convert the image to RGB or RGBA first).".format(name)
        )
    if depth != 8:
        raise UnsupportedImage(
            "{}-bit PNG images are not supported: only 8 bits per channel "
            "(convert the image to 8-bit first).".format(depth)
        )
    if interlace:
        raise UnsupportedImage("Interlaced PNG images are not supported (save without interlace).")
    return width, height, _CHANNELS_BY_COLOR_TYPE[color_type]


def _paeth(left: int, up: int, up_left: int) -> int:
    estimate = left + up - up_left
    dist_left, dist_up, dist_up_left = (
        abs(estimate - left),
        abs(estimate - up),
        abs(estimate - up_left),
    )
    if dist_left <= dist_up and dist_left <= dist_up_left:
        return left
    return up if dist_up <= dist_up_left else up_left


def _unfilter_row(kind: int, row: bytearray, prior: bytearray, bpp: int) -> None:
    """Undo one PNG row filter in place (``prior`` is the previous, already unfiltered row)."""
    count = len(row)
    if kind == 0:
        return
    if kind == 1:  # Sub
        for i in range(bpp, count):
            row[i] = (row[i] + row[i - bpp]) & 0xFF
    elif kind == 2:  # Up
        for i in range(count):
            row[i] = (row[i] + prior[i]) & 0xFF
    elif kind == 3:  # Average
        for i in range(count):
            left = row[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + ((left + prior[i]) >> 1)) & 0xFF
    elif kind == 4:  # Paeth
        for i in range(count):
            if i >= bpp:
                row[i] = (row[i] + _paeth(row[i - bpp], prior[i], prior[i - bpp])) & 0xFF
            else:
                row[i] = (row[i] + prior[i]) & 0xFF
    else:
        raise UnsupportedImage("Corrupt PNG image (unknown row filter {}).".format(kind))


def decode_png(png: bytes) -> Tuple[int, int, int, bytes]:
    """Decode an 8-bit gray, gray+alpha, RGB or RGBA PNG to (width, height, channels, pixels)."""
    chunks = _read_chunks(bytes(png))
    if not chunks or chunks[0][0] != b"IHDR":
        raise UnsupportedImage("Corrupt PNG image (no header).")
    width, height, channels = _parse_header(chunks[0][1])
    try:
        raw = zlib.decompress(b"".join(payload for kind, payload in chunks if kind == b"IDAT"))
    except zlib.error as exc:
        raise UnsupportedImage("Corrupt PNG image ({}).".format(exc)) from exc
    stride = width * channels
    if len(raw) < (stride + 1) * height:
        raise UnsupportedImage("Truncated PNG image (pixel data too short).")
    pixels = bytearray(stride * height)
    prior = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter_row(raw[start], row, prior, channels)
        pixels[y * stride : (y + 1) * stride] = row
        prior = row
    return width, height, channels, bytes(pixels)
