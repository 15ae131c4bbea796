"""The shipped default model: present, documented, and usable with no network at all."""

import os
import shutil
import subprocess

import numpy as np
import pytest
from helpers_backend import console_script
from PIL import Image
from repaint_fill_backend.models import embedded_model_dir
from repaint_fill_tools.training.data import TRAINING_IMAGES, VALIDATION_ONLY

MAX_WEIGHTS_BYTES = 25 * 1024 * 1024


def test_weights_are_shipped_as_small_safetensors():
    folder = embedded_model_dir()
    weights = list((folder / "unet").glob("*.safetensors"))
    assert (folder / "model_index.json").is_file()
    assert (folder / "scheduler" / "scheduler_config.json").is_file()
    assert len(weights) == 1 and weights[0].stat().st_size <= MAX_WEIGHTS_BYTES


def test_model_card_names_every_training_image_and_its_licence():
    card = (embedded_model_dir() / "MODEL_CARD.md").read_text()
    for image in TRAINING_IMAGES:
        assert image.name in card and image.licence in card
    for held_out in VALIDATION_ONLY:
        assert f"{held_out} |" not in card  # validation images are never listed as training data


def can_cut_the_network() -> bool:
    return shutil.which("unshare") is not None and os.geteuid() == 0


@pytest.mark.skipif(not can_cut_the_network(), reason="needs root and unshare to cut the network")
def test_example_fill_with_the_network_cut(tmp_path):
    # A fresh network namespace has no interfaces but a down loopback: any download would fail.
    out = tmp_path / "example.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    result = subprocess.run(
        ["unshare", "--net", console_script(), "example", "-o", str(out), "--steps", "8",
         "--jump-length", "2", "--jump-n-sample", "2", "--seed", "1", "--quiet",
         "--before-after", str(tmp_path / "sheet.png")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(out), str(tmp_path / "sheet.png")]
    from repaint_fill_backend.cli import example_files

    image_path, mask_path = example_files()
    original = np.asarray(Image.open(image_path).convert("RGB"))
    filled = np.asarray(Image.open(out).convert("RGB"))
    mask = np.asarray(Image.open(mask_path))
    assert (filled[mask == 0] == original[mask == 0]).all()
    assert np.abs(filled[mask == 255].astype(int) - original[mask == 255]).mean() > 1
    assert "embedded" in result.stderr
    sheet = np.asarray(Image.open(tmp_path / "sheet.png").convert("RGB"))
    height, width = original.shape[:2]
    assert sheet.shape == (height, 2 * width + 8, 3)
    assert (sheet[:, :width][mask == 255] == 255).all()  # before: the region to fill in white
    assert (sheet[:, width + 8 :] == filled).all()  # after: the result itself
