"""`repaint-fill fill` end to end with a tiny random guided-diffusion checkpoint (a real `.pt`
file of the paper models' architecture, fewer channels), as a file and as a registry name."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_backend import assert_filled_scene, box_mask, gradient_image
from helpers_guided import save_small_checkpoint

FEW_STEPS = ["--steps", "4", "--jump-length", "1", "--jump-n-sample", "1"]


def command() -> list[str]:
    script = shutil.which("repaint-fill")
    if script:
        return [script]
    return [sys.executable, "-c", "import sys; from repaint_fill_backend.cli import main; "
            "sys.exit(main())"]  # fmt: skip


def run_fill(scene: Path, model: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            *command(),
            "fill",
            str(scene / "image.png"),
            "--mask",
            str(scene / "mask.png"),
            "-o",
            str(scene / "out.png"),
            "--model",
            model,
            "--seed",
            "3",
            "--device",
            "cpu",
            "--report",
            str(scene / "report.json"),
            *FEW_STEPS,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        cwd=scene,
    )


@pytest.fixture()
def scene(tmp_path):
    gradient_image(60, 44).save(tmp_path / "image.png")
    box_mask(60, 44, (16, 8, 40, 30)).save(tmp_path / "mask.png")
    return tmp_path


def assert_filled(scene: Path) -> dict:
    return assert_filled_scene(scene, "report.json")


def test_fill_with_a_guided_diffusion_checkpoint_file(scene):
    save_small_checkpoint(scene, "small.pt")
    result = run_fill(scene, "small.pt")
    assert result.returncode == 0, result.stderr
    report = assert_filled(scene)
    assert report["model"] == "small.pt"
    coarse = report["regions"][0]["levels"][0]  # the crop is larger than 1.5 x 32 px
    assert coarse["model_calls"] == 4
    width, height = coarse["working_size"]
    assert width % 4 == 0 and height % 4 == 0 and max(width, height) == 32  # sidecar: 32px


def test_registry_name_uses_the_file_in_the_models_folder(scene, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    # The registry's CelebA-HQ file name; the sidecar keeps the working size small for speed
    # (without it the entry's 256 px applies: tests/backend/test_guided_registry.py checks that).
    save_small_checkpoint(models, "celeba256_250000.pt")
    result = run_fill(scene, "celeba-256", {"REPAINT_FILL_MODELS_DIR": str(models)})
    assert result.returncode == 0, result.stderr
    report = assert_filled(scene)
    assert report["model"] == "celeba-256"
    assert max(report["regions"][0]["levels"][0]["working_size"]) == 32


def test_missing_registry_file_says_what_to_download_and_where(scene, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    result = run_fill(scene, "imagenet-256", {"REPAINT_FILL_MODELS_DIR": str(empty)})
    assert result.returncode == 2
    message = result.stderr
    assert "256x256_diffusion_uncond.pt" in message
    assert "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/" in message
    assert str(empty) in message
    assert "Traceback" not in message
