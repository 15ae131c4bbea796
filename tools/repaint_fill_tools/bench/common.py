"""What the benchmarks share: the models they run, how a UNet becomes our denoiser, the machine.

Only torch, numpy and diffusers here; the heavy bench dependencies are imported where used.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from repaint_fill_backend.models import (
    DiffusersUNetDenoiser,
    _unet_folder,
    embedded_model_dir,
    read_scheduler_config,
    training_betas_from_config,
)
from repaint_fill_backend.schedule import linear_betas

# google/ddpm-ema-celebahq-256's UNet configuration (113.7M parameters); random-initialised here
# because nothing can be downloaded on these machines. Weights do not change the speed.
CELEBAHQ_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 256,
    "in_channels": 3,
    "out_channels": 3,
    "layers_per_block": 2,
    "block_out_channels": (128, 128, 256, 256, 512, 512),
    "down_block_types": (
        "DownBlock2D",
        "DownBlock2D",
        "DownBlock2D",
        "DownBlock2D",
        "AttnDownBlock2D",
        "DownBlock2D",
    ),
    "up_block_types": (
        "UpBlock2D",
        "AttnUpBlock2D",
        "UpBlock2D",
        "UpBlock2D",
        "UpBlock2D",
        "UpBlock2D",
    ),
}

# A ~50k-parameter UNet for the smoke run (`bench --quick`) and its test.
TINY_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 32,
    "in_channels": 3,
    "out_channels": 3,
    "block_out_channels": (8, 16),
    "layers_per_block": 1,
    "down_block_types": ("DownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "UpBlock2D"),
    "norm_num_groups": 4,
}


@dataclass(frozen=True)
class ModelSpec:
    """A UNet to benchmark: a diffusers folder, or a random-init configuration (seeded)."""

    name: str
    folder: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {"name": self.name, "folder": self.folder, "config": self.config, "seed": self.seed}
        )

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        return cls(**json.loads(text))


def embedded_spec(folder: Path | None = None) -> ModelSpec:
    """The shipped model, or another diffusers folder standing in for it (development runs)."""
    return ModelSpec("embedded", folder=str(folder or embedded_model_dir()))


def celebahq_spec() -> ModelSpec:
    return ModelSpec("celebahq-config (random init)", config=CELEBAHQ_UNET_CONFIG)


def tiny_spec() -> ModelSpec:
    return ModelSpec("tiny (random init)", config=TINY_UNET_CONFIG)


def build_unet(spec: ModelSpec, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """The spec's UNet2DModel in eval mode, on the CPU, in ``dtype``."""
    from diffusers import UNet2DModel

    if spec.folder is not None:
        unet = UNet2DModel.from_pretrained(str(_unet_folder(Path(spec.folder))), torch_dtype=dtype)
    else:
        torch.manual_seed(spec.seed)
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.config.items()}
        unet = UNet2DModel(**config).to(dtype)
    return unet.eval().requires_grad_(False)


def training_betas(spec: ModelSpec) -> np.ndarray:
    """The spec's training schedule (its scheduler config, else DDPM's linear 1e-4..0.02)."""
    if spec.folder is None:
        return linear_betas()
    return training_betas_from_config(read_scheduler_config(Path(spec.folder)))


def native_size(unet: torch.nn.Module) -> int:
    size = unet.config.sample_size
    return int(max(size) if isinstance(size, list | tuple) else size)


def our_denoiser(unet: torch.nn.Module, channels_last: bool) -> DiffusersUNetDenoiser:
    """Our adapter around ``unet`` (fixed-variance models), optionally channels-last."""
    if channels_last:
        unet = unet.to(memory_format=torch.channels_last)
    return DiffusersUNetDenoiser(unet, unet.config.in_channels, False, channels_last)


class CallCounter:
    """Counts a module's forward calls with a hook (the same way for ours and the peer)."""

    def __init__(self, module: torch.nn.Module):
        self.calls = 0
        self._handle = module.register_forward_pre_hook(self._count)

    def _count(self, _module: torch.nn.Module, _inputs: Any) -> None:
        self.calls += 1

    def close(self) -> None:
        self._handle.remove()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def machine_info() -> dict[str, str]:
    """What a reader needs to compare numbers: CPU, cores, threads, versions, load."""
    import diffusers

    return {
        "cpu": cpu_name(),
        "cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "load average at start (1/5/15 min)": load_average(),
    }
