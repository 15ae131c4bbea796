"""The stdlib PNG codec agrees with Pillow both ways, and refuses what it cannot read clearly."""

import io
import random

import pytest
from PIL import Image
from repaint_fill_core.errors import UnsupportedImage
from repaint_fill_core.png import decode_png, encode_png

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _random_pixels(width: int, height: int, channels: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(width * height * channels))


def _smooth_pixels(width: int, height: int, channels: int) -> bytes:
    # Gradients make Pillow/zlib pick every PNG row filter (Sub, Up, Average, Paeth).
    return bytes(
        (x * 7 + y * 3 + c * 50 + (x * y) % 11) % 256
        for y in range(height)
        for x in range(width)
        for c in range(channels)
    )


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_encoded_png_reads_back_in_pillow(channels: int) -> None:
    pixels = _random_pixels(13, 7, channels)
    image = Image.open(io.BytesIO(encode_png(13, 7, channels, pixels)))
    assert image.mode == MODES[channels]
    assert image.size == (13, 7)
    assert image.tobytes() == pixels


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("make", [_random_pixels, _smooth_pixels])
def test_pillow_png_decodes(channels: int, make) -> None:
    pixels = make(37, 19, channels)
    buffer = io.BytesIO()
    Image.frombytes(MODES[channels], (37, 19), pixels).save(buffer, "PNG", optimize=True)
    assert decode_png(buffer.getvalue()) == (37, 19, channels, pixels)


@pytest.mark.parametrize("png_filter", [0, 1, 2, 3, 4])
def test_every_row_filter_decodes(png_filter: int) -> None:
    pixels = _smooth_pixels(16, 9, 4)
    buffer = io.BytesIO()
    # Pillow >= 9 lets us force one filter for all rows through the encoder "filter" option.
    Image.frombytes("RGBA", (16, 9), pixels).save(buffer, "PNG", filter=png_filter)
    assert decode_png(buffer.getvalue())[3] == pixels


def test_round_trip_own_codec() -> None:
    pixels = _random_pixels(64, 64, 4, seed=3)
    assert decode_png(encode_png(64, 64, 4, pixels)) == (64, 64, 4, pixels)


def test_palette_png_is_refused_with_a_reason() -> None:
    buffer = io.BytesIO()
    Image.new("P", (4, 4)).save(buffer, "PNG")
    with pytest.raises(UnsupportedImage, match="palette.*convert"):
        decode_png(buffer.getvalue())


def test_16_bit_png_is_refused_with_a_reason() -> None:
    buffer = io.BytesIO()
    Image.new("I;16", (4, 4)).save(buffer, "PNG")
    with pytest.raises(UnsupportedImage, match="16-bit.*8-bit"):
        decode_png(buffer.getvalue())


def test_not_a_png_is_refused() -> None:
    with pytest.raises(UnsupportedImage, match="Not a PNG"):
        decode_png(b"GIF89a....")


def test_encode_checks_sizes() -> None:
    with pytest.raises(ValueError):
        encode_png(2, 2, 3, b"\x00" * 11)
    with pytest.raises(ValueError):
        encode_png(2, 2, 5, b"\x00" * 20)
