"""Unconditional samples per model (what a model paints from scratch) through the product's
sampler, with tiny random UNets: the pictures only mean something with real models."""

import numpy as np
from helpers_backend import save_tiny_unet
from PIL import Image
from repaint_fill_backend.engine import Engine
from repaint_fill_tools.bench import prior_samples


def test_samples_are_seeded_per_item_and_differ_between_models(tmp_path):
    first = Engine.load(str(save_tiny_unet(tmp_path / "first", seed=0)), dtype="fp32")
    second = Engine.load(str(save_tiny_unet(tmp_path / "second", seed=1)), dtype="fp32")
    samples = prior_samples.prior_samples(first, "fast", [0, 1])
    assert [image.size for image in samples] == [(32, 32)] * 2  # the model's native size
    pixels = [np.asarray(image) for image in samples]
    assert not np.array_equal(pixels[0], pixels[1])  # different seeds, different pictures
    again = prior_samples.prior_samples(first, "fast", [1])
    assert np.array_equal(np.asarray(again[0]), pixels[1])  # a seed is a picture
    other = prior_samples.prior_samples(second, "fast", [1])
    assert not np.array_equal(np.asarray(other[0]), pixels[1])


def test_the_sheet_has_a_row_per_model(tmp_path):
    one, two = save_tiny_unet(tmp_path / "one", seed=0), save_tiny_unet(tmp_path / "two", seed=1)
    out = tmp_path / "sheet.png"
    prior_samples.main([str(one), str(two), "--count", "3", "--preset", "fast",
                        "--dtype", "fp32", "--out", str(out)])  # fmt: skip
    with Image.open(out) as sheet:
        tile = prior_samples.TILE
        assert sheet.size == (3 * tile, 2 * (tile + 14))
        rows = np.asarray(sheet.convert("RGB")).astype(int)
    top, bottom = rows[14 : 14 + tile], rows[tile + 28 : 2 * tile + 28]
    assert np.abs(top - bottom).mean() > 1  # the two models' rows differ
