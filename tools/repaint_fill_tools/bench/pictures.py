"""The picture sheets' building block: an image under a one-line label."""

from __future__ import annotations

from PIL import Image, ImageDraw

LABEL_HEIGHT = 14


def labelled_tile(image: Image.Image, label: str, size: int) -> Image.Image:
    """``image`` resized to ``size`` x ``size`` (Lanczos) under ``label``, on white."""
    tile = Image.new("RGB", (size, size + LABEL_HEIGHT), "white")
    tile.paste(
        image.convert("RGB").resize((size, size), Image.Resampling.LANCZOS), (0, LABEL_HEIGHT)
    )
    ImageDraw.Draw(tile).text((2, 1), label, fill="black")
    return tile
