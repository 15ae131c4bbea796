"""`repaint-fill fill` end to end with a tiny random UNet2DModel saved in diffusers format."""

import contextlib
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_backend import (
    assert_filled_scene,
    box_mask,
    console_script,
    gradient_image,
    save_tiny_unet,
)
from PIL import Image
from repaint_fill_backend.cli import main, remembered_interrupts
from repaint_fill_backend.devices import cpu_has_native_bf16

native_bf16 = cpu_has_native_bf16()

FEW_STEPS = ["--steps", "6", "--jump-length", "2", "--jump-n-sample", "2", "--quiet"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_unet(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture()
def scene(tmp_path):
    gradient_image(72, 48).save(tmp_path / "image.png")
    box_mask(72, 48, (20, 10, 44, 30)).save(tmp_path / "mask.png")
    return tmp_path


def fill(scene, model, *extra, image="image.png", mask="mask.png"):
    return main(
        [
            "fill",
            str(scene / image),
            "--mask",
            str(scene / mask),
            "-o",
            str(scene / "out.png"),
            "--model",
            str(model),
            *FEW_STEPS,
            *extra,
        ]
    )


def test_fill_writes_full_image_with_untouched_pixels_identical(scene, tiny_model):
    assert fill(scene, tiny_model, "--seed", "1", "--report", str(scene / "r.json")) == 0
    report = assert_filled_scene(scene, "r.json")
    for key in (
        "model",
        "device",
        "dtype",
        "steps",
        "jump_length",
        "jump_n_sample",
        "model_calls",
        "seconds",
        "seeds",
        "working_size",
        "crop",
    ):
        assert key in report
    # 56x46 crop > 1.5 x the tiny model's native 32 px: a coarse pass (the whole walk, 10 calls)
    # and one refinement level at the crop's own pixels.
    assert report["seeds"] == [1]
    (region,) = report["regions"]
    assert [level["model_calls"] for level in region["levels"]][0] == 10
    assert region["levels"][-1]["scale"] == 1.0
    assert report["model_calls"] == sum(level["model_calls"] for level in region["levels"])
    assert report["device"] == "cpu" and report["dtype"] == ("bf16" if native_bf16 else "fp32")
    x, y, w, h = report["crop"]
    assert x <= 20 and y <= 10 and x + w >= 44 and y + h >= 30


@pytest.mark.parametrize(("option", "key"), [("--no-harmonize", "harmonize"),
                                             ("--no-detail-match", "detail_match")])  # fmt: skip
def test_turning_a_correction_off_keeps_the_sampled_fill_and_the_report_says_so(
    scene, tiny_model, option, key
):
    model = tiny_model
    if key == "detail_match":
        # grain around the hole to match, and the shipped model's soft fill (a random UNet
        # paints noise grainier than any photo, which detail matching rightly leaves alone)
        noise = np.random.default_rng(0).normal(128, 40, (48, 72, 3))
        Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)).save(scene / "image.png")
        model = "embedded"
    outputs = {}
    for flag in ([], [option]):
        assert fill(scene, model, "--seed", "2", "--report", str(scene / "r.json"), *flag) == 0
        report = json.loads((scene / "r.json").read_text())
        assert report[key] is not flag
        outputs[bool(flag)] = np.asarray(Image.open(scene / "out.png").convert("RGB"), int)
    hole = np.asarray(box_mask(72, 48, (20, 10, 44, 30))) > 0
    assert (outputs[True][~hole] == outputs[False][~hole]).all()  # outside: never touched
    assert (outputs[True][hole] != outputs[False][hole]).any()  # inside: the fill differs


def test_same_seed_same_result_and_variations_get_own_files(scene, tiny_model):
    fill(scene, tiny_model, "--seed", "3")
    first = np.asarray(Image.open(scene / "out.png"))
    fill(scene, tiny_model, "--seed", "3", "--variations", "2")
    one, two = (np.asarray(Image.open(scene / f"out-{i}.png")) for i in (1, 2))
    np.testing.assert_allclose(one.astype(int), first.astype(int), atol=1)  # batch vs single
    assert (one != two).any()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "10", "--jump-length", "10", "--jump-n-sample", "2"], "jump length"),
        (["--steps", "10", "--jump-length", "2", "--jump-n-sample", "0"], "at least 1"),
        (["--steps", "1001", "--jump-length", "2", "--jump-n-sample", "1"], "between 1 and 1000"),
        (["--model", "no-such-model"], "unknown model"),
        (["--model", "./missing/folder"], "does not exist"),
        (["--device", "tpu"], "invalid choice"),
    ],
)
def test_user_errors_are_one_line(scene, args, message, capsys):
    argv = [
        "fill",
        str(scene / "image.png"),
        "--mask",
        str(scene / "mask.png"),
        "-o",
        str(scene / "out.png"),
        "--quiet",
        *args,
    ]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (scene / "out.png").exists()


def test_missing_files_mask_size_and_empty_mask(scene, tiny_model, capsys):
    assert fill(scene, tiny_model, image="nope.png") == 2
    assert "no such file" in capsys.readouterr().err
    box_mask(10, 10, (1, 1, 2, 2)).save(scene / "small.png")
    assert fill(scene, tiny_model, mask="small.png") == 2
    assert "same size" in capsys.readouterr().err
    box_mask(72, 48, (0, 0, 0, 0)).save(scene / "empty.png")
    assert fill(scene, tiny_model, mask="empty.png") == 2
    assert "mask is empty" in capsys.readouterr().err


def test_full_mask_is_allowed_with_a_warning(scene, tiny_model):
    box_mask(72, 48, (0, 0, 72, 48)).save(scene / "full.png")
    with pytest.warns(UserWarning, match="pure generation"):
        assert fill(scene, tiny_model, mask="full.png") == 0


@pytest.mark.parametrize("mode", ["RGBA", "L", "P"])
def test_other_pixel_formats(scene, tiny_model, mode):
    gradient_image(72, 48, mode).save(scene / "image.png")
    assert fill(scene, tiny_model) == 0
    original = np.asarray(Image.open(scene / "image.png").convert("RGBA"))
    out = Image.open(scene / "out.png")
    mask = np.asarray(Image.open(scene / "mask.png"))
    assert out.size == (72, 48)
    assert (np.asarray(out.convert("RGBA"))[mask == 0] == original[mask == 0]).all()


def test_bare_unet_folder_and_learned_variance_models_load(scene, tmp_path):
    bare = save_tiny_unet(tmp_path / "bare", hub_layout=False)
    assert fill(scene, bare) == 0
    learned = save_tiny_unet(tmp_path / "learned", learned_variance=True)
    assert fill(scene, learned) == 0


def hub_cache(tmp_path, model_folder, repo="acme--tiny-ddpm"):
    """A Hugging Face cache folder in the hub's layout holding ``model_folder`` as a snapshot."""
    cache = tmp_path / "hub"
    snapshot = cache / f"models--{repo}" / "snapshots" / ("a" * 40)
    shutil.copytree(model_folder, snapshot)
    (cache / f"models--{repo}" / "refs").mkdir()
    (cache / f"models--{repo}" / "refs" / "main").write_text("a" * 40)
    return cache


@pytest.mark.parametrize("safetensors", [True, False])
def test_hub_id_loads_from_the_hub_cache_offline(scene, tmp_path, monkeypatch, safetensors):
    # The hub is unreachable here: build the cache layout huggingface_hub uses and go offline.
    # Older hub repositories (google/ddpm-*) carry .bin weights only: both must load.
    model = save_tiny_unet(tmp_path / "model", safetensors=safetensors)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache(tmp_path, model)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fill(scene, "acme/tiny-ddpm") == 0


def test_hub_id_missing_from_the_cache_names_it(scene, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fill(scene, "acme/not-cached") == 2
    err = capsys.readouterr().err
    assert "acme/not-cached" in err and "repaint-fill download" in err


def test_console_command_runs(scene, tiny_model):
    result = subprocess.run(
        [
            console_script(),
            "fill",
            str(scene / "image.png"),
            "--mask",
            str(scene / "mask.png"),
            "-o",
            str(scene / "cli.png"),
            "--model",
            str(tiny_model),
            *FEW_STEPS,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(scene / "cli.png")
    assert "Traceback" not in result.stderr


def photo_scene(folder: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A 1024x640 image with a 256x256 box and three short strokes far apart from it."""
    rng = np.random.default_rng(5)
    pixels = np.asarray(gradient_image(1024, 640)).copy()
    pixels[::7] = rng.integers(0, 255, pixels[::7].shape, dtype=np.uint8)  # some texture
    coverage = np.zeros((640, 1024), np.uint8)
    coverage[192:448, 384:640] = 255
    for x, y in ((40, 40), (960, 80), (60, 580)):
        coverage[y : y + 36, x : x + 8] = 255  # 8 px wide, 36 px long
    Image.fromarray(pixels).save(folder / "photo.png")
    Image.fromarray(coverage).save(folder / "photo_mask.png")
    return folder / "photo.png", folder / "photo_mask.png", pixels, coverage


def test_real_size_fill_has_regions_levels_and_exact_progress(tmp_path, tiny_model):
    image, mask, pixels, coverage = photo_scene(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "repaint_fill_backend.cli", "fill", str(image), "--mask", str(mask),
         "-o", str(tmp_path / "out.png"), "--model", str(tiny_model), "--context-margin", "32",
         "--report", str(tmp_path / "r.json"), "--seed", "3", *FEW_STEPS[:-1]],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert (out[coverage == 0] == pixels[coverage == 0]).all()  # known pixels byte-identical
    assert (out[coverage == 255] != pixels[coverage == 255]).any()
    report = json.loads((tmp_path / "r.json").read_text())
    regions = report["regions"]
    assert len(regions) == 4  # the box and three strokes far from it and from each other
    box = next(r for r in regions if r["crop"] == [352, 160, 320, 320])  # box + 32 px margin
    assert [level["scale"] for level in box["levels"]][-1] == 1.0  # refined to native pixels
    assert len(box["levels"]) >= 3 and box["levels"][-1]["tiles"] > 1  # tiny model: 32 px
    strokes = [r for r in regions if r is not box]
    for stroke in strokes:  # each worked in its own small crop, not with the whole frame
        assert stroke["crop"][2] <= 8 + 64 and stroke["crop"][3] <= 36 + 64
        assert stroke["levels"][-1]["scale"] == 1.0
    total = sum(level["model_calls"] for r in regions for level in r["levels"])
    assert report["model_calls"] == total
    assert f"{total}/{total}" in result.stderr  # the progress bar ran over the whole plan


def test_a_swallowed_ctrl_c_still_stops_the_fill_at_the_next_model_call():
    """An interrupt that Python drops (it landed in a finaliser) is raised again by the check the
    fill's step callback runs; the usual handler is back afterwards."""
    usual = signal.getsignal(signal.SIGINT)
    with remembered_interrupts() as check_interrupt:
        check_interrupt()  # nothing pending: the fill goes on
        with contextlib.suppress(KeyboardInterrupt):  # the finaliser that swallowed it
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            check_interrupt()
    assert signal.getsignal(signal.SIGINT) is usual


def test_cancelling_a_real_size_fill_leaves_no_file(tmp_path, tiny_model):
    image, mask, _, _ = photo_scene(tmp_path)
    out = tmp_path / "out.png"
    process = subprocess.Popen(
        [sys.executable, "-m", "repaint_fill_backend.cli", "fill", str(image), "--mask", str(mask),
         "-o", str(out), "--model", str(tiny_model), "--steps", "100", "--jump-length", "5",
         "--jump-n-sample", "5"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    seen = ""
    while "call" not in seen:  # the progress bar has started: sampling is under way
        seen += process.stderr.read(1)
        assert seen or process.poll() is None
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert "interrupted" in process.stderr.read()
    assert not out.exists() and not list(tmp_path.glob(".out-*"))
