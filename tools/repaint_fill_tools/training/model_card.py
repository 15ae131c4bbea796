"""Generate the embedded model's MODEL_CARD.md from the licence table and the run's numbers."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DModel

from repaint_fill_tools.training.data import (
    TRAINING_IMAGES,
    VALIDATION_ONLY,
    load_training_pyramids,
)
from repaint_fill_tools.training.held_out import held_out_against, train_vs_held_out
from repaint_fill_tools.training.model import (
    BETA_END,
    BETA_START,
    DESIGN_FORWARD_128_SECONDS,
    DESIGN_TRAIN_STEP_64_SECONDS,
    TRAIN_TIMESTEPS,
    parameter_count,
)
from repaint_fill_tools.training.photo_sources import RESERVED_PACKAGES, load_manifest

WEIGHTS_FILE = "unet/diffusion_pytorch_model.safetensors"


def measure_forward_seconds(unet: UNet2DModel, size: int, threads: int = 2) -> float:
    """Median wall time of one batch-1 float32 forward pass at ``size`` on ``threads`` threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    model = unet.float().eval()
    sample = torch.zeros(1, 3, size, size)
    timestep = torch.tensor([500])
    times = []
    with torch.no_grad():
        model(sample, timestep)  # warm-up: first call allocates
        for _ in range(3):
            started = time.perf_counter()
            model(sample, timestep)
            times.append(time.perf_counter() - started)
    torch.set_num_threads(previous)
    return sorted(times)[len(times) // 2]


def _images_table() -> list[str]:
    """Markdown rows for every bundled training image."""
    rows = ["| image | source | licence | content |", "|---|---|---|---|"]
    rows += [f"| {i.name} | {i.source} | {i.licence} | {i.description} |" for i in TRAINING_IMAGES]
    return rows


def _photos_section(photos_used: bool) -> list[str]:
    """The fetched photos: licences per package, obligations, and every photo's licence."""
    if not photos_used:
        return []
    manifest = load_manifest()
    train = [entry for entry in manifest["images"] if entry["split"] == "train"]
    held_out = [entry for entry in manifest["images"] if entry["split"] == "val"]
    counts = Counter((entry["package"], entry["licence"]) for entry in train)
    lines = [
        f"Plus {len(train)} photographs from pinned Debian packages, fetched and checked by "
        "`python -m repaint_fill_tools.training.photo_sources --out DIR` (the manifest "
        "`training/photo_manifest.json` records package, version, path, sha256, licence and "
        "author of every file). Held out, never trained on: the manifest's "
        f"{len(held_out)} `val` photos (packages "
        f"{', '.join(sorted({e['package'] for e in held_out}))}). Never used at all: the "
        f"packages {' and '.join(RESERVED_PACKAGES)} (reserved for independent evaluation).",
        "",
        "| package | licence | photos |",
        "|---|---|---|",
        *(f"| {package} | {licence} | {n} |" for (package, licence), n in sorted(counts.items())),
        "",
        "Licence obligations of the weights: the photos include CC-BY (attribution), CC-BY-SA "
        "and GPL images (share-alike / copyleft). Whether trained weights are an adaptation of "
        "their training images is unsettled; to be safe the weights are distributed with this "
        "card, which credits every photo (list below) and states their licences, and under "
        "terms compatible with CC-BY-SA-4.0 / GPL-2+ for anyone who treats them as an adaptation.",
        "",
        "<details><summary>Every training photo</summary>",
        "",
        "| photo | package | licence | author | content |",
        "|---|---|---|---|---|",
        *(
            f"| {e['id']} | {e['package']} {e['version']} | {e['licence']} | "
            f"{e.get('author') or '-'} | {e.get('content') or '-'} |"
            for e in train
        ),
        "",
        "</details>",
        "",
    ]
    return lines


def _architecture(config: dict[str, Any], parameters: int) -> list[str]:
    """Markdown lines describing the UNet."""
    return [
        f"- diffusers `UNet2DModel`, {parameters:,} parameters, stored as fp16 safetensors.",
        f"- `sample_size` {config['sample_size']} (native working size: the fill region is scaled "
        "so its longest side is this), fully convolutional.",
        f"- `block_out_channels` {list(config['block_out_channels'])}, `layers_per_block` "
        f"{config['layers_per_block']}, down blocks {list(config['down_block_types'])}, "
        "self-attention only at the lowest resolution.",
        f"- Epsilon prediction, fixed variance; DDPM linear betas {BETA_START}..{BETA_END} over "
        f"{TRAIN_TIMESTEPS} steps (`scheduler/scheduler_config.json`).",
    ]


def _finest(config: dict[str, Any]) -> str:
    """The crop density cap of ``--finest-short-side``, as a clause of the crops line."""
    cap = config.get("finest_short_side")  # run_info stores the config as strings
    if cap in (None, "None"):
        return ""
    return f"; images downscaled first to a {cap} px short side when larger"


def _training(info: dict[str, Any]) -> list[str]:
    """Markdown lines describing the training run."""
    config = info["config"]
    # The run may have been started as ``python -m ...training.train``: same options either way.
    arguments = info["command"].split(maxsplit=1)[1] if " " in info["command"] else ""
    return [
        f"- Command (equivalent): `repaint-fill train {arguments}`",
        f"- Steps: {info['steps']} (AdamW lr {config['lr']} with warm-up and cosine decay, "
        f"EMA decay {config['ema_decay']}; the shipped weights are the EMA).",
        f"- Crops: random squares at every scale (side drawn log-uniformly from 1:1 pixels to "
        f"the whole short side, cut from an image pyramid{_finest(config)}), resized to "
        f"{config['resolution']}px "
        f"(batch {config['batch_size']}); every {config.get('final_every', '0')}th step (0 = "
        f"none) and the last {config['final_steps']} planned steps at "
        f"{config['final_resolution']}px (batch {config['final_batch_size']}). Horizontal flips, "
        "small brightness/contrast jitter, no hue changes. bf16 autocast: "
        f"{config.get('bf16', 'False')}.",
        f"- Wall time: {info['elapsed_seconds'] / 60:.1f} min on CPU, {config['threads']} thread(s)"
        " (2-core machine shared with other work).",
        f"- Final loss (mean of the last 200 steps, epsilon MSE): {info['final_loss']}",
        f"- Seed: {config['seed']}. Loss curve: `docs/embedded_loss.png`.",
    ]


LIMITS = """\
## What it is good and bad at

- Checked by eye on the bundled example (fast preset, 65 calls, ~7 s on 1 thread) and on an unseen
  crop of scikit-learn's china.jpg (balanced preset, 230 calls, ~25 s): fills match the
  surrounding colours and brightness but are soft, low-detail patches; on the unseen photo the
  fill was a dark smudge that did not continue the building's lines.
- Usable for: small holes in smooth or fine-grained regions (fur, grass, gravel, sky, blurred
  backgrounds) where a colour-consistent soft patch is acceptable; tests; offline use.
- Bad at: anything needing semantics or structure. It is small and was trained for a few
  CPU-hours only. It cannot draw faces,
  text, objects or straight man-made structures; large holes come out as smudges. It is NOT a
  face model (the training set has two portraits only).
- For quality fills use a larger diffusers DDPM with `--model` (e.g. a hub id); this model exists
  so the product works offline out of the box.
- Validation images never trained on: scikit-learn's {validation}.
"""


def render_model_card(info: dict[str, Any], config: dict[str, Any], measured: dict) -> str:
    """The full MODEL_CARD.md text."""
    lines = ["# RePaint Fill embedded model", ""]
    lines += ["A small unconditional DDPM shipped inside the package as the default model.", ""]
    lines += ["## Architecture", "", *_architecture(config, info["parameters"]), ""]
    lines += [
        f"- Speed, one batch-1 float32 forward at 128x128 on a 2-core CPU: "
        f"{DESIGN_FORWARD_128_SECONDS} s with 2 threads on the idle machine when the architecture "
        f"was chosen (~{int(20 / DESIGN_FORWARD_128_SECONDS)} model calls in 20 s); at export "
        f"time {measured['forward_1_thread']:.3f} s (1 thread) / "
        f"{measured['forward_2_threads']:.3f} s (2 threads) with load average "
        f"{measured['load']:.1f} from other work.",
        f"- Training step (batch 16 at 64x64, 1 thread, idle): {DESIGN_TRAIN_STEP_64_SECONDS} s. "
        f"Weights file: {measured['file_mb']:.1f} MB.",
    ]
    if measured.get("losses"):
        lines += [
            "- Epsilon MSE per image (32 seeded crops at every scale, at the training resolution; "
            "`held_out.per_image_loss`), mean over images: "
            + _loss_clause(measured["losses"], "training images"),
        ]
    lines += [""]
    lines += ["## Training data", "", *_images_table(), ""]
    lines += _photos_section(info["config"].get("photos", "None") != "None")
    lines += [
        "Grey images were expanded to RGB. All images are public domain or CC0 by their own "
        "documentation; bundled images without a clear licence (coins, immunohistochemistry, "
        "moon) and the faces in `lfw_subset` were excluded.",
        "",
    ]
    lines += ["## Training", "", *_training(info), ""]
    validation = " and ".join(VALIDATION_ONLY)
    lines += [LIMITS.format(count=len(TRAINING_IMAGES), validation=validation)]
    return "\n".join(lines)


def _photos(info: dict[str, Any]) -> Path | None:
    """The run's photo folder (None when it trained on the bundled images only)."""
    folder = info["config"].get("photos", "None")
    return None if folder == "None" else Path(folder)


def write_model_card(run_dir: Path, export_dir: Path) -> Path:
    """Write ``export_dir/MODEL_CARD.md`` for the model exported there from ``run_dir``."""
    info = json.loads((run_dir / "run_info.json").read_text())
    unet = UNet2DModel.from_pretrained(export_dir / "unet")
    measured = {
        # At the crop size most training steps used, so the two numbers compare with its loss.
        "losses": train_vs_held_out(unet, int(info["config"]["resolution"]), _photos(info)),
        "load": os.getloadavg()[0],
        "forward_1_thread": measure_forward_seconds(unet, unet.config.sample_size, threads=1),
        "forward_2_threads": measure_forward_seconds(unet, unet.config.sample_size, threads=2),
        "file_mb": (export_dir / WEIGHTS_FILE).stat().st_size / 1e6,
    }
    path = export_dir / "MODEL_CARD.md"
    path.write_text(render_model_card(info, dict(unet.config), measured))
    return path


def _loss_clause(losses: dict[str, float], training: str) -> str:
    """'training images 0.0218, held-out photos 0.0255: ratio 1.17 (5-95% over images ...)'."""
    return (
        f"{training} {losses['train']:.4f}, held-out photos {losses['held_out']:.4f}: ratio "
        f"{losses['ratio']:.2f} (5-95% bootstrap interval over images "
        f"{losses['low']:.2f}-{losses['high']:.2f})."
    )


def _blend_losses(unet: UNet2DModel, photos: Path | None) -> list[str]:
    """The blend's held-out loss against each parent's share of the training data, at 64 px."""
    named = "scikit-learn china/flower" + (" and the fetched `val` photos" if photos else "")
    lines = [
        "- Epsilon MSE per image (32 seeded crops at every scale, 64 px, the training "
        f"resolution), mean over images; held-out photos: {named}:"
    ]
    sets = {"the bundled images": load_training_pyramids(None)}
    if photos is not None:
        sets["the bundled images and the `train` photos"] = load_training_pyramids(photos)
    results = held_out_against(unet, sets, photos)
    if results is None:
        return []
    return lines + ["  - " + _loss_clause(losses, name) for name, losses in results.items()]


def write_blend_card(
    out: Path, parents: list[tuple[float, Path, str]], photos: Path | None
) -> Path:
    """Write ``out/MODEL_CARD.md`` for a blend written by ``training.blend``.

    ``parents``: (share, folder, weights sha256) of the first and the second model.
    """
    weight = parents[1][0]
    unet = UNet2DModel.from_pretrained(out / "unet")
    lines = ["# RePaint Fill embedded model", ""]
    lines += [
        "A small unconditional DDPM shipped inside the package as the default model: a "
        "weight-space blend of two trained models of one architecture "
        f"(`python -m repaint_fill_tools.training.blend FIRST SECOND --weight {weight}`: "
        f"{1 - weight:g} x the first + {weight:g} x the second, per weight).",
        "",
        "## Architecture",
        "",
        *_architecture(dict(unet.config), parameter_count(unet)),
        f"- Weights file: {(out / WEIGHTS_FILE).stat().st_size / 1e6:.1f} MB.",
        *_blend_losses(unet, photos),
        "",
        "## Parents",
        "",
        "| share | folder when blended | weights sha256 |",
        "|---|---|---|",
        *(f"| {share:g} | `{folder}` | `{sha256}` |" for share, folder, sha256 in parents),
        "",
        "## Training data",
        "",
        "Between them the parents trained on at most the images below: the bundled images and "
        "the photo manifest's `train` split.",
        "",
        *_images_table(),
        "",
        *_photos_section(True),
        "Grey images were expanded to RGB.",
        "",
    ]
    validation = " and ".join(VALIDATION_ONLY)
    lines += [LIMITS.format(count=len(TRAINING_IMAGES), validation=validation)]
    path = out / "MODEL_CARD.md"
    path.write_text("\n".join(lines))
    return path
