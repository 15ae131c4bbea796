"""`repaint-fill expand` end to end with a tiny random UNet2DModel (real engine, real files)."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers_backend import gradient_image, save_tiny_unet
from PIL import Image
from repaint_fill_backend.cli import main
from repaint_fill_backend.expand import Sides, grow_canvas

FEW_STEPS = ["--steps", "6", "--jump-length", "2", "--jump-n-sample", "2", "--quiet"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_unet(tmp_path_factory.mktemp("models") / "tiny")


def expand(folder: Path, model: Path, *sides: str, mode: str = "RGB") -> int:
    gradient_image(40, 24, mode).save(folder / "image.png")
    return main(
        ["expand", str(folder / "image.png"), *sides, "-o", str(folder / "out.png")]
        + ["--model", str(model), "--seed", "3", "--report", str(folder / "r.json"), *FEW_STEPS]
    )


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_expand_keeps_the_original_at_its_offset_and_fills_the_border(
    tmp_path, tiny_model, mode
) -> None:
    sides = ["--left", "8", "--right", "16", "--top", "4"]
    assert expand(tmp_path, tiny_model, *sides, mode=mode) == 0
    original = np.asarray(Image.open(tmp_path / "image.png"))
    out_image = Image.open(tmp_path / "out.png")
    out = np.asarray(out_image)
    assert out_image.mode == mode
    assert out_image.size == (40 + 8 + 16, 24 + 4)  # the sizes add up
    inner = out[4:, 8 : 8 + 40]
    assert inner.tobytes() == original.tobytes()  # byte-identical at the new offset
    border = np.ones(out.shape[:2], dtype=bool)
    border[4:, 8 : 8 + 40] = False
    # Filled, not just the starting edge replication: the sampler changed the border pixels.
    grown = np.asarray(grow_canvas(Image.open(tmp_path / "image.png"), Sides(8, 16, 4, 0)).image)
    assert (out[border] != grown[border]).mean() > 0.5
    if mode == "RGBA":
        assert (out[border][:, 3] == 255).all()  # the new border is opaque
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["image_size"] == [64, 28] and report["seeds"] == [3]


def test_one_side_only_grows_only_that_side(tmp_path, tiny_model) -> None:
    assert expand(tmp_path, tiny_model, "--bottom", "10") == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape[:2] == (34, 40)
    assert out[:24].tobytes() == np.asarray(Image.open(tmp_path / "image.png")).tobytes()


@pytest.mark.parametrize(
    ("sides", "words"),
    [
        ([], "nothing to expand"),
        (["--left", "0", "--top", "0"], "nothing to expand"),
        (["--left", "-4"], "0 or more pixels"),
    ],
)
def test_bad_sizes_are_one_clear_error_and_write_nothing(
    tmp_path, tiny_model, capsys, sides, words
) -> None:
    assert expand(tmp_path, tiny_model, *sides) == 2
    error = capsys.readouterr().err
    assert words in error and "Traceback" not in error
    assert not (tmp_path / "out.png").exists()


def test_grow_canvas_replicates_edges_and_masks_exactly_the_border() -> None:
    image = gradient_image(5, 3)
    grown = grow_canvas(image, Sides(left=2, top=1))
    pixels = np.asarray(grown.image)
    assert grown.image.size == (7, 4)
    assert (grown.original.x, grown.original.y) == (2, 1)
    assert (pixels[1:, 0] == np.asarray(image)[:, 0]).all()  # left edge repeated
    assert (pixels[0, 2:] == np.asarray(image)[0]).all()  # top edge repeated
    assert (grown.coverage[1:, 2:] == 0).all()
    assert grown.coverage.sum() == 255 * (7 * 4 - 5 * 3)


def test_a_canvas_too_large_to_open_again_is_refused_before_it_is_made() -> None:
    from repaint_fill_backend.imaging import ImageInputError

    with pytest.raises(ImageInputError, match="expand by less"):
        grow_canvas(gradient_image(4, 4), Sides(right=20000, bottom=20000))
