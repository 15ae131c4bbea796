"""Training of the embedded model: loss, resume, export layout, data licence and crops.

Everything runs on CPU with a tiny UNet2DModel at 16x16 so each test takes a few seconds.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("skimage")
pytest.importorskip("matplotlib")

from diffusers import DDPMScheduler, UNet2DModel
from repaint_fill_tools.training import data
from repaint_fill_tools.training.checkpoint import (
    CHECKPOINT_NAME,
    export_diffusers,
)
from repaint_fill_tools.training.model import (
    linear_alphas_cumprod,
    parameter_count,
)
from repaint_fill_tools.training.train import (
    TrainConfig,
    diffusion_loss,
    export_run,
    new_state,
    train,
)
from safetensors import safe_open

TINY_UNET = {
    "sample_size": 16,
    "in_channels": 3,
    "out_channels": 3,
    "block_out_channels": (8, 16),
    "layers_per_block": 1,
    "down_block_types": ("DownBlock2D", "AttnDownBlock2D"),
    "up_block_types": ("AttnUpBlock2D", "UpBlock2D"),
    "norm_num_groups": 4,
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and stay fast when other work holds a core."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_config(out: Path, steps: int) -> TrainConfig:
    """A run config small enough for a unit test."""
    return TrainConfig(
        out=out, steps=steps, batch_size=2, resolution=16, final_steps=0, lr=1e-3, warmup_steps=1
    )


def test_optimisation_lowers_the_diffusion_loss() -> None:
    """A few AdamW steps on one fixed batch must reduce the epsilon-prediction loss."""
    torch.manual_seed(0)
    state = new_state(tiny_config(Path("unused"), steps=20), TINY_UNET)
    clean = torch.rand(4, 3, 16, 16) * 2 - 1
    alphas_cumprod = linear_alphas_cumprod()

    def evaluate() -> float:
        torch.manual_seed(123)  # same timesteps and noise each time: a fair comparison
        with torch.no_grad():
            return float(diffusion_loss(state.model, clean, alphas_cumprod))

    before = evaluate()
    for group in state.optimizer.param_groups:
        group["lr"] = 3e-3
    for _ in range(20):
        loss = diffusion_loss(state.model, clean, alphas_cumprod)
        state.optimizer.zero_grad()
        loss.backward()
        state.optimizer.step()
    assert evaluate() < 0.7 * before


def test_resume_continues_exactly_where_it_stopped(tmp_path: Path) -> None:
    """2 steps + resume to 4 steps == 4 uninterrupted steps: weights, EMA, losses and RNG."""
    straight = train(tiny_config(tmp_path / "straight", steps=4), TINY_UNET)
    split_config = tiny_config(tmp_path / "split", steps=2)
    train(split_config, TINY_UNET)
    resumed = train(replace(split_config, steps=4, resume=True), TINY_UNET)

    assert resumed.step == 4
    assert resumed.losses == straight.losses
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
        assert torch.equal(straight.ema[name], resumed.ema[name]), name
    assert torch.equal(straight.data_generator.get_state(), resumed.data_generator.get_state())
    info = json.loads((tmp_path / "split" / "run_info.json").read_text())
    assert info["steps"] == 4
    assert (tmp_path / "split" / CHECKPOINT_NAME).is_file()
    assert (tmp_path / "split" / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_export_writes_a_loadable_fp16_diffusers_layout(tmp_path: Path) -> None:
    """The export loads with UNet2DModel/DDPMScheduler.from_pretrained and holds fp16 EMA."""
    state = new_state(tiny_config(tmp_path, steps=1), TINY_UNET)
    ema = {name: value + 0.5 for name, value in state.ema.items()}  # differs from the live weights
    export_diffusers(dict(state.model.config), ema, tmp_path / "model")

    index = json.loads((tmp_path / "model" / "model_index.json").read_text())
    assert index["_class_name"] == "DDPMPipeline"
    assert index["unet"] == ["diffusers", "UNet2DModel"]
    assert index["scheduler"] == ["diffusers", "DDPMScheduler"]
    weights = tmp_path / "model" / "unet" / "diffusion_pytorch_model.safetensors"
    with safe_open(str(weights), framework="pt") as handle:
        dtypes = {handle.get_slice(key).get_dtype() for key in handle.keys()}  # noqa: SIM118
    assert dtypes == {"F16"}

    unet = UNet2DModel.from_pretrained(tmp_path / "model" / "unet")
    key = "conv_in.weight"
    assert torch.allclose(unet.state_dict()[key].float(), ema[key], atol=1e-2)
    scheduler = DDPMScheduler.from_pretrained(tmp_path / "model" / "scheduler")
    expected = linear_alphas_cumprod().float()
    assert torch.allclose(scheduler.alphas_cumprod, expected, rtol=1e-4)


def test_training_set_is_licence_clean_and_excludes_validation_images() -> None:
    """Only PD/CC0 images; scikit-learn's china/flower (validation) are never in the data."""
    for image in data.TRAINING_IMAGES:
        assert "public domain" in image.licence or "CC0" in image.licence, image.name
        text = f"{image.name} {image.source}".lower()
        assert "china" not in text and "flower" not in text
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    held_out = [torch.from_numpy(p.copy()).permute(2, 0, 1).float() / 255 for p in
                sklearn_datasets.load_sample_images().images]  # fmt: skip
    for tensor in data.load_training_images():
        for validation in held_out:
            assert not (tensor.shape == validation.shape and torch.allclose(tensor, validation))


def test_crops_have_the_training_shape_range_and_keep_grey_grey() -> None:
    """Batches are NCHW in [-1, 1]; a grey image stays grey (no hue jitter); tiny images work."""
    generator = torch.Generator().manual_seed(0)
    grey = torch.rand(1, 80, 120).expand(3, 80, 120)
    small = torch.rand(3, 20, 30)
    settings = data.CropSettings(resolution=32)
    batch = data.crop_batch([grey, small], 12, settings, generator)
    assert batch.shape == (12, 3, 32, 32)
    assert batch.dtype == torch.float32
    assert batch.min() >= -1.0 and batch.max() <= 1.0
    grey_only = data.crop_batch([grey], 4, settings, generator)
    assert torch.equal(grey_only[:, 0], grey_only[:, 1])
    assert torch.equal(grey_only[:, 1], grey_only[:, 2])


def test_a_stop_request_ends_the_run_with_a_checkpoint(tmp_path: Path) -> None:
    """A stop (SIGTERM in the CLI) between steps saves a checkpoint at the last finished step."""
    config = tiny_config(tmp_path, steps=2)
    train(config, TINY_UNET)
    stop = threading.Event()
    stop.set()
    stopped = train(replace(config, steps=50, resume=True), TINY_UNET, stop=stop)
    assert stopped.step == 2
    assert json.loads((tmp_path / "run_info.json").read_text())["steps"] == 2


def test_model_card_names_every_training_image_and_licence(tmp_path: Path) -> None:
    """The generated card lists each image with its licence, the step count and parameters."""
    run = tmp_path / "run"
    state = train(tiny_config(run, steps=1), TINY_UNET)
    export_run(run, tmp_path / "model")
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    for image in data.TRAINING_IMAGES:
        assert f"| {image.name} | {image.source} | {image.licence} |" in card
    assert f"{parameter_count(state.model):,} parameters" in card
    assert "- Steps: 1 " in card
    assert "china.jpg" in card  # named as held out, never as training data
    # memorising, with its spread over images: "training images 0.1234, held-out photos ...:
    # ratio 1.02 (5-95% bootstrap interval over images 0.90-1.15)."
    spread = r"ratio \d\.\d\d \(5-95% bootstrap interval over images \d\.\d\d-\d\.\d\d\)"
    assert re.search(r"training images \d\.\d{4}, held-out photos \d\.\d{4}: " + spread, card)
    assert "downscaled first" not in card  # native pixels: no density cap to state


def test_model_card_states_the_crops_density_cap(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(replace(tiny_config(run, steps=1), finest_short_side=256), TINY_UNET)
    export_run(run, tmp_path / "model")
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert "images downscaled first to a 256 px short side when larger" in card


def test_crop_scales_are_log_uniform_from_native_pixels_to_the_whole_frame() -> None:
    """Every octave gets a similar share: 1:1 grain as often as the downscaled whole frame."""
    generator = torch.Generator().manual_seed(0)
    settings = data.CropSettings(resolution=64)
    sides = [data.crop_side(1024, settings, generator) for _ in range(4000)]
    assert min(sides) < 70 and max(sides) > 1000  # reaches both ends
    octaves = [sum(64 * 2**k <= s < 64 * 2 ** (k + 1) for s in sides) for k in range(4)]
    assert max(octaves) < 1.3 * min(octaves), octaves


def test_native_scale_crops_keep_one_pixel_grain_and_large_ones_average_it() -> None:
    """A 1-px checkerboard survives a 1:1 crop (from the pyramid's finest level) and averages
    to grey when the whole frame is downscaled: the model sees both scales of a photo."""
    board = (np.indices((512, 512)).sum(axis=0) % 2 * 255).astype(np.uint8)
    pyramid = data.build_pyramid(np.repeat(board[..., None], 3, axis=2))
    assert [level.shape[1] for level in pyramid.levels] == [512, 256, 128, 64]
    generator = torch.Generator().manual_seed(1)
    settings = data.CropSettings(resolution=64, brightness=0.0, contrast=0.0)
    contrasts = [float(data.random_crop(pyramid, settings, generator).std()) for _ in range(300)]
    assert max(contrasts) > 0.9  # a 1:1 crop: still black and white
    assert min(contrasts) < 0.1  # a whole-frame crop: grey


def test_a_finest_short_side_makes_the_densest_crops_show_the_downscaled_frame() -> None:
    """With the cap, a 1-px checkerboard never reaches a crop as black and white: the densest
    crops see a 1024 px frame at 256 px, as a working frame of that size would show it."""
    board = (np.indices((1024, 1536)).sum(axis=0) % 2 * 255).astype(np.uint8)
    pyramid = data.build_pyramid(np.repeat(board[..., None], 3, axis=2), finest_short_side=256)
    shapes = [tuple(level.shape[1:]) for level in pyramid.levels]
    assert shapes == [(256, 384), (128, 192), (64, 96)]
    small = data.build_pyramid(np.zeros((100, 120, 3), np.uint8), finest_short_side=256)
    assert tuple(small.levels[0].shape[1:]) == (100, 120)  # smaller images keep their pixels
    generator = torch.Generator().manual_seed(1)
    settings = data.CropSettings(resolution=64, brightness=0.0, contrast=0.0)
    contrasts = [float(data.random_crop(pyramid, settings, generator).std()) for _ in range(100)]
    assert max(contrasts) < 0.1


def test_bf16_autocast_steps_keep_fp32_weights_and_finite_losses(tmp_path: Path) -> None:
    """Mixed precision: the step runs in bf16 autocast, weights/EMA stay fp32, loss is finite."""
    state = train(replace(tiny_config(tmp_path, steps=3), bf16=True), TINY_UNET)
    assert all(p.dtype == torch.float32 for p in state.model.parameters())
    assert all(v.dtype == torch.float32 for v in state.ema.values() if v.is_floating_point())
    assert all(np.isfinite(loss) for loss in state.losses) and len(state.losses) == 3


def test_capacity_candidates_start_from_the_shipped_architecture() -> None:
    from repaint_fill_tools.training import capacity
    from repaint_fill_tools.training.model import EMBEDDED_UNET_CONFIG

    assert capacity.CANDIDATES["v1"] == EMBEDDED_UNET_CONFIG
    for name in ("deep", "wide", "large"):
        row = capacity.describe(name)
        assert row["parameters"] > capacity.describe("v1")["parameters"], name
        assert row["weights_mb_fp16"] == round(row["parameters"] * 2 / 2**20, 1)
    large = capacity.CANDIDATES["large"]
    assert large["down_block_types"][-2:] == ("AttnDownBlock2D",) * 2  # two attention levels
    assert large["up_block_types"][:2] == ("AttnUpBlock2D",) * 2


def test_capacity_run_writes_a_held_out_curve_and_fill_times(tmp_path: Path, monkeypatch) -> None:
    """Each candidate trains in segments (resuming), is measured after each, and is timed on a
    fast-preset fill; a tiny candidate stands in for the real ones (minutes of CPU each)."""
    from repaint_fill_tools.training import capacity

    monkeypatch.setattr(capacity, "CANDIDATES", {"tiny": {**TINY_UNET, "sample_size": 32}})
    monkeypatch.setattr(capacity, "FILL_SIDE", 64)  # 256 px needs tiles of a 32 px model
    photos = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (photos / split).mkdir(parents=True)
        for number in range(2):
            pixels = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(photos / split / f"{number}.png")
    out = tmp_path / "capacity"
    common = ["--photos", str(photos), "--out", str(out)]
    capacity.main([*common, "--minutes", "0.04", "--segments", "2", "--no-fills"])
    row = json.loads((out / "capacity.json").read_text())["rows"][0]
    first, second = row["curve"]
    assert second["steps"] > first["steps"] > 0  # the second segment resumed the first
    assert second["minutes"] > first["minutes"]
    assert all(np.isfinite([p["held_out"], p["training"]]).all() for p in row["curve"])
    assert "fast_fill_256" not in row
    capacity.main([*common, "--fills-only"])
    report = json.loads((out / "capacity.json").read_text())
    row = report["rows"][0]
    assert row["curve"] == [first, second]  # kept from the training phase
    assert row["fast_fill_256"]["model_calls"] > 0 and row["fast_fill_256"]["seconds"] > 0
    fill = row["fast_fill_256"]
    assert row["within_limits"] == (fill["seconds"] <= 10 and row["weights_mb_fp16"] <= 64)
    assert (out / "capacity.png").stat().st_size > 1000


def test_held_out_scales_draw_only_one_pixel_or_only_whole_frame_crops() -> None:
    """The breakdown's '1:1 pixels' crops keep a 1-px checkerboard black and white, its
    'whole frame' crops are all grey: each scale is what its name says."""
    from repaint_fill_tools.training.held_out import scale_settings

    board = (np.indices((512, 512)).sum(axis=0) % 2 * 255).astype(np.uint8)
    pyramid = data.build_pyramid(np.repeat(board[..., None], 3, axis=2))
    generator = torch.Generator().manual_seed(2)

    def contrasts(scale: str) -> list[float]:
        settings = replace(scale_settings(scale, 64), brightness=0.0, contrast=0.0)
        return [float(data.random_crop(pyramid, settings, generator).std()) for _ in range(40)]

    assert min(contrasts("1:1 pixels")) > 0.9
    assert max(contrasts("whole frame")) < 0.1
    assert [data.crop_side(512, scale_settings("1:1 pixels", 64), generator) for _ in range(5)] \
        == [64] * 5  # fmt: skip
    with pytest.raises(ValueError, match="1:1 pixels"):
        scale_settings("half", 64)


class Output:
    """What a diffusers UNet returns: the prediction as ``.sample``."""

    def __init__(self, sample: torch.Tensor) -> None:
        self.sample = sample


class Zero(torch.nn.Module):
    """Predicts no noise at all: its epsilon MSE is the noise's variance, about 1."""

    def forward(self, noisy, timesteps):
        return Output(torch.zeros_like(noisy))


class NoisyIsNoise(torch.nn.Module):
    """Takes the noisy input for the noise: right at high noise, wrong near t = 0."""

    def forward(self, noisy, timesteps):
        return Output(noisy)


def test_loss_by_noise_scores_every_model_on_the_same_noisy_crops() -> None:
    """A model that always predicts zero noise scores the noise's variance (about 1) in every
    band, and the same numbers on a second call; a model that takes the noisy input for the
    noise is nearly right at high noise and wrong at low noise: the bands are noise levels."""
    from repaint_fill_tools.training.held_out import NOISE_BANDS, loss_by_noise

    grey = data.build_pyramid(np.full((96, 96, 3), 128, np.uint8))
    zero = loss_by_noise(Zero(), [grey], 16, crops=20)
    assert len(zero) == len(NOISE_BANDS)
    assert all(0.8 < value < 1.2 for value in zero), zero
    assert loss_by_noise(Zero(), [grey], 16, crops=20) == zero
    identity = loss_by_noise(NoisyIsNoise(), [grey], 16, crops=20)
    assert identity[-1] < 0.01 and identity[0] > 0.5, identity
    assert identity == sorted(identity, reverse=True)


def test_compare_by_noise_tables_every_model_at_every_scale() -> None:
    """One row per crop scale and model; different weights give different numbers."""
    from repaint_fill_tools.training.compare import noise_table

    torch.manual_seed(0)
    first, second = UNet2DModel(**TINY_UNET).eval(), UNet2DModel(**TINY_UNET).eval()
    photo = data.build_pyramid(np.random.default_rng(0).integers(0, 255, (64, 80, 3), np.uint8))
    lines = noise_table({"first": first, "second": second}, [photo], 16)
    assert lines[0].startswith("| model | crops (16 px) | t 0-49 |")
    rows = [line.split(" | ") for line in lines[2:]]
    assert [(row[0], row[1]) for row in rows] == [
        ("| first", "every scale"), ("| second", "every scale"), ("| first", "whole frame"),
        ("| second", "whole frame"), ("| first", "1:1 pixels"), ("| second", "1:1 pixels"),
    ]  # fmt: skip
    assert rows[0][2:] != rows[1][2:]


def test_per_image_ratios_show_a_gap_only_where_the_model_does_worse_on_held_out_photos() -> None:
    """A model that predicts no noise scores about 1 on every image: ratio about 1, with 1 inside
    its interval. A model that takes the noisy input for the noise does worse on dark images
    than on mid-grey ones: with grey training images and dark held-out photos its ratio and the
    whole interval lie above 1, and the table names each held-out photo with its loss."""
    from repaint_fill_tools.training.compare import per_image_table
    from repaint_fill_tools.training.held_out import per_image_loss

    def flat(level: int) -> data.ImagePyramid:
        return data.build_pyramid(np.full((96, 96, 3), level, np.uint8))

    train = [flat(120 + k) for k in range(len(data.TRAINING_IMAGES) + 3)]
    held_out = {"dark-a.jpg": flat(10), "dark-b.jpg": flat(20), "dark-c.jpg": flat(5)}
    assert per_image_loss(Zero(), train[:2], 16, crops=8) == per_image_loss(
        Zero(), train[:2], 16, crops=8
    )  # seeded: every model sees the same noisy crops
    lines = per_image_table({"zero": Zero(), "noisy": NoisyIsNoise()}, train, held_out)

    def ratio(row: str) -> tuple[float, float, float]:
        cell = row.split(" | ")[-1].rstrip(" |")  # "1.00 (0.98-1.02)"
        value, interval = cell.split(" (")
        low, high = interval.rstrip(")").split("-")
        return float(value), float(low), float(high)

    rows = {tuple(line.split(" | ")[:2]): line for line in lines if line.startswith("| ")}
    value, low, high = ratio(rows[("| zero", "bundled (13)")])
    assert 0.8 < value < 1.2 and low <= 1.0 <= high
    value, low, high = ratio(rows[("| noisy", "all (16)")])
    assert value > 1.2 and low > 1.0
    photo_rows = [line for line in lines if line.startswith("| dark-")]
    assert [row.split(" | ")[0] for row in photo_rows] == ["| dark-a.jpg", "| dark-b.jpg",
                                                           "| dark-c.jpg"]  # fmt: skip


def tiny_export(folder: Path, config: dict, seed: int) -> Path:
    """A tiny random UNet exported as the training run exports (fp16 diffusers layout)."""
    torch.manual_seed(seed)
    return export_diffusers(config, UNet2DModel(**config).state_dict(), folder)


def test_blend_lies_between_its_parents_and_writes_a_card_naming_them(tmp_path: Path) -> None:
    from repaint_fill_tools.training.blend import main as blend_main
    from repaint_fill_tools.training.blend import weights_sha256

    first = tiny_export(tmp_path / "first", TINY_UNET, seed=1)
    second = tiny_export(tmp_path / "second", TINY_UNET, seed=2)
    assert (
        blend_main([str(first), str(second), "--weight", "0.25", "--out", str(tmp_path / "b")]) == 0
    )

    weights = [
        UNet2DModel.from_pretrained(folder / "unet").state_dict()
        for folder in (first, second, tmp_path / "b")
    ]
    key = "conv_in.weight"
    expected = 0.75 * weights[0][key].float() + 0.25 * weights[1][key].float()
    assert torch.allclose(weights[2][key].float(), expected, atol=2e-3)
    assert not torch.allclose(weights[2][key], weights[0][key])  # it moved towards the second
    card = (tmp_path / "b" / "MODEL_CARD.md").read_text()
    assert f"| 0.75 | `{first}` | `{weights_sha256(first)}` |" in card
    assert f"| 0.25 | `{second}` | `{weights_sha256(second)}` |" in card
    for image in data.TRAINING_IMAGES:
        assert f"| {image.name} | {image.source} | {image.licence} |" in card
    assert "Licence obligations of the weights" in card  # the photos' CC-BY-SA / GPL terms


def test_blend_refuses_two_architectures_and_a_weight_outside_0_1(tmp_path: Path, capsys) -> None:
    from repaint_fill_tools.training.blend import main as blend_main

    first = tiny_export(tmp_path / "first", TINY_UNET, seed=1)
    wider = tiny_export(tmp_path / "wider", {**TINY_UNET, "block_out_channels": (8, 32)}, seed=2)
    for second, weight in ((wider, "0.5"), (first, "1.5")):
        with pytest.raises(SystemExit) as stopped:
            blend_main([str(first), str(second), "--weight", weight, "--out", str(tmp_path / "b")])
        assert stopped.value.code == 2
    errors = capsys.readouterr().err
    assert "different UNet configurations: cannot blend" in errors
    assert "the second model's share, from 0 to 1, not 1.5" in errors
    assert not (tmp_path / "b").exists()  # nothing written for a refused blend
