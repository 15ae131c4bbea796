"""Checkpoints (resumable training state) and export to the diffusers layout."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import diffusers
import torch
from diffusers import DDPMScheduler, UNet2DModel

from repaint_fill_tools.training.model import BETA_END, BETA_START, TRAIN_TIMESTEPS

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class TrainState:
    """Everything a resumed run needs to continue exactly where it stopped."""

    model: UNet2DModel
    optimizer: torch.optim.Optimizer
    ema: dict[str, torch.Tensor]
    data_generator: torch.Generator
    step: int = 0
    losses: list[float] = field(default_factory=list)
    elapsed_seconds: float = 0.0


def save_checkpoint(state: TrainState, out_dir: Path) -> Path:
    """Write the state atomically (temp file + rename) so a kill mid-save never loses a run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "model_config": dict(state.model.config),
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "ema": state.ema,
        "step": state.step,
        "losses": state.losses,
        "elapsed_seconds": state.elapsed_seconds,
        "data_rng": state.data_generator.get_state(),
        "torch_rng": torch.get_rng_state(),
    }
    path = out_dir / CHECKPOINT_NAME
    temp = path.with_suffix(".tmp")
    torch.save(payload, temp)
    temp.replace(path)
    return path


def load_checkpoint_payload(path: Path) -> dict[str, Any]:
    """Read a checkpoint file (a directory means its checkpoint.pt)."""
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    # weights_only=False: the payload holds our own optimizer state and RNG tensors, written by us.
    return torch.load(path, map_location="cpu", weights_only=False)


def restore_state(state: TrainState, payload: dict[str, Any]) -> None:
    """Load a checkpoint payload into an already constructed state, including RNG streams."""
    state.model.load_state_dict(payload["model"])
    state.optimizer.load_state_dict(payload["optimizer"])
    state.ema = {name: tensor.clone() for name, tensor in payload["ema"].items()}
    state.step = int(payload["step"])
    state.losses = list(payload["losses"])
    state.elapsed_seconds = float(payload["elapsed_seconds"])
    state.data_generator.set_state(payload["data_rng"])
    torch.set_rng_state(payload["torch_rng"])


def ema_model(model_config: dict[str, Any], ema: dict[str, torch.Tensor]) -> UNet2DModel:
    """A UNet2DModel holding the EMA weights (the weights we ship)."""
    config = {key: value for key, value in model_config.items() if not key.startswith("_")}
    model = UNet2DModel(**config)
    model.load_state_dict(ema)
    return model.eval()


def unet_folder(model_folder: Path) -> Path:
    """The UNet's folder of a diffusers model folder (or the folder itself when it is the UNet)."""
    return model_folder / "unet" if (model_folder / "unet").is_dir() else model_folder


def export_diffusers(
    model_config: dict[str, Any], ema: dict[str, torch.Tensor], out_dir: Path
) -> Path:
    """Write ``out_dir`` like the hub's DDPM repos: model_index.json, unet/ (fp16), scheduler/."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # fp16 halves the shipped file; the loader may upcast for CPU maths.
    unet = ema_model(model_config, ema).to(torch.float16)
    unet.save_pretrained(out_dir / "unet", safe_serialization=True)
    scheduler = DDPMScheduler(
        num_train_timesteps=TRAIN_TIMESTEPS,
        beta_start=BETA_START,
        beta_end=BETA_END,
        beta_schedule="linear",
        prediction_type="epsilon",
        clip_sample=True,
    )
    scheduler.save_pretrained(out_dir / "scheduler")
    index = {
        "_class_name": "DDPMPipeline",
        "_diffusers_version": diffusers.__version__,
        "scheduler": ["diffusers", "DDPMScheduler"],
        "unet": ["diffusers", "UNet2DModel"],
    }
    (out_dir / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    # save_pretrained writes the weights owner-only (0600); shipped package data must be readable.
    for path in out_dir.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return out_dir
