"""Model resolution and loading: `--model` names -> a LoadedModel with a uniform denoiser.

`--model` accepts: ``embedded`` (shipped in the package), a local diffusers directory (hub layout
with model_index.json + unet/ + scheduler/, or a bare UNet2DModel folder), a guided-diffusion
``.pt`` checkpoint or registry name, or a Hugging Face hub id in diffusers format.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from .choices import EMBEDDED
from .denoiser import LoadedModel, Prediction
from .exceptions import ModelError
from .guided_diffusion.loading import load_checkpoint_model
from .registry import embedded_model_dir, entry_for_file, find_entry, resolve_registry_name
from .schedule import cosine_betas, linear_betas

SUPPORTED_VARIANCE = {"fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log"}


def load_model(spec: str, device: torch.device, dtype: torch.dtype) -> LoadedModel:
    """Resolve a ``--model`` value and load it onto ``device`` in ``dtype``."""
    path = Path(spec).expanduser()
    if spec == EMBEDDED:
        folder = embedded_model_dir()
        if not (folder / "unet" / "config.json").is_file():
            raise ModelError(f"the embedded model is missing from {folder}; reinstall repaint-fill")
        return load_diffusers_model(folder, EMBEDDED, device, dtype)
    if path.is_dir():
        return load_diffusers_model(path, str(path), device, dtype)
    if path.is_file() and path.suffix in (".pt", ".pth"):
        return load_guided_checkpoint(path, device, dtype)
    if path.suffix in (".pt", ".pth") or os.sep in spec and not _looks_like_hub_id(spec):
        raise ModelError(f"model file or folder {spec!r} does not exist; check the path")
    registry_path = _registry_checkpoint(spec)
    if registry_path is not None:
        return load_guided_checkpoint(registry_path, device, dtype)
    if _looks_like_hub_id(spec):
        return load_diffusers_model(download_hub_model(spec), spec, device, dtype)
    raise ModelError(
        f"unknown model {spec!r}: give 'embedded', a local diffusers folder, a .pt checkpoint or "
        "a Hugging Face hub id like google/ddpm-ema-celebahq-256 (see `repaint-fill models`)"
    )


def _looks_like_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "/", "~"))


def _registry_checkpoint(spec: str) -> Path | None:
    """The checkpoint file of a guided-diffusion registry name, None if ``spec`` is not one."""
    entry = find_entry(spec)
    if entry is None or entry.kind != "guided":
        return None
    try:
        return resolve_registry_name(spec)
    except FileNotFoundError as error:
        raise ModelError(str(error)) from error


def load_guided_checkpoint(path: Path, device: torch.device, dtype: torch.dtype) -> LoadedModel:
    """A local guided-diffusion ``.pt`` file; the registry's facts for its file name (heads,
    resolution, name, class) fill in what its weights cannot tell."""
    entry = entry_for_file(path.name)
    if entry is None:
        return load_checkpoint_model(path, device, dtype)
    return load_checkpoint_model(
        path, device, dtype, known=entry.config, name=entry.name, class_label=entry.class_label
    )


def download_hub_model(repo_id: str) -> Path:
    """Fetch (or find in the hub cache) a diffusers repository; honours HF_HUB_OFFLINE."""
    # Prefer safetensors; older hub repositories (google/ddpm-*) may only have .bin weights.
    folder = _snapshot(repo_id, ["*.json", "*.safetensors"])
    if not _has_weights(folder):
        folder = _snapshot(repo_id, ["*.json", "*.bin"])
    return folder


def _has_weights(root: Path) -> bool:
    return any(root.glob("**/*.safetensors")) or any(root.glob("**/*.bin"))


def _snapshot(repo_id: str, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    # Read at call time (huggingface_hub reads them once at import), so a long-running server
    # and tests follow the current environment.
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    try:
        folder = snapshot_download(
            repo_id,
            cache_dir=os.environ.get("HF_HUB_CACHE") or None,
            local_files_only=offline,
            allow_patterns=patterns,
        )
    except LocalEntryNotFoundError as error:
        raise ModelError(
            f"model {repo_id!r} is not in the Hugging Face cache and the hub cannot be reached "
            "(offline or HF_HUB_OFFLINE=1); download it once with network access "
            f"(`repaint-fill download {repo_id}`) or pass a local diffusers folder"
        ) from error
    except RepositoryNotFoundError as error:
        raise ModelError(f"no model {repo_id!r} on the Hugging Face hub; check the id") from error
    return Path(folder)


def _unet_folder(root: Path) -> Path:
    if (root / "unet" / "config.json").is_file():
        return root / "unet"
    if (root / "config.json").is_file():
        return root
    raise ModelError(
        f"{root} is not a diffusers model folder: expected model_index.json with unet/ and "
        "scheduler/, or a UNet2DModel folder with config.json and weights"
    )


def read_scheduler_config(root: Path) -> dict:
    """The training-schedule config next to the UNet, or {} when the folder has none."""
    for candidate in (root / "scheduler" / "scheduler_config.json", root / "scheduler_config.json"):
        if candidate.is_file():
            return json.loads(candidate.read_text())
    return {}


def training_betas_from_config(config: dict) -> np.ndarray:
    """Betas of a diffusers scheduler config; the DDPM default (linear, 1000) when absent."""
    if config.get("trained_betas"):
        return np.asarray(config["trained_betas"], dtype=np.float64)
    count = int(config.get("num_train_timesteps", 1000))
    start, end = float(config.get("beta_start", 1e-4)), float(config.get("beta_end", 0.02))
    kind = config.get("beta_schedule", "linear")
    if kind == "linear":
        return linear_betas(count, start, end)
    if kind == "scaled_linear":
        return np.linspace(start**0.5, end**0.5, count, dtype=np.float64) ** 2
    if kind == "squaredcos_cap_v2":
        return cosine_betas(count)
    raise ModelError(f"unsupported beta schedule {kind!r} in the model's scheduler config")


def _variance_type(config: dict, out_channels: int, in_channels: int) -> str:
    if out_channels == 2 * in_channels:
        return "learned_range"
    kind = config.get("variance_type", "fixed_small")
    if kind not in SUPPORTED_VARIANCE:
        raise ModelError(f"unsupported variance type {kind!r} in the model's scheduler config")
    return "fixed_large" if kind.startswith("fixed_large") else "fixed_small"


class DiffusersUNetDenoiser:
    """Adapter: a diffusers UNet2DModel as ``denoiser(x, t) -> Prediction`` (float32 out)."""

    def __init__(self, unet: torch.nn.Module, in_channels: int, learned: bool, channels_last: bool):
        self.unet = unet
        self.in_channels = in_channels
        self.learned = learned
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.dtype = next(unet.parameters()).dtype

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> Prediction:
        model_input = x.to(dtype=self.dtype, memory_format=self.memory_format)
        output = self.unet(model_input, t).sample.float()
        if not self.learned:
            return Prediction(output)
        eps, raw_frac = output.split(self.in_channels, dim=1)
        return Prediction(eps, (raw_frac + 1) / 2)


def load_diffusers_model(
    root: Path, name: str, device: torch.device, dtype: torch.dtype
) -> LoadedModel:
    """Load a diffusers UNet2DModel folder (hub layout or bare) as a LoadedModel."""
    from diffusers import UNet2DModel

    unet_dir = _unet_folder(root)
    config = json.loads((unet_dir / "config.json").read_text())
    if config.get("_class_name", "UNet2DModel") != "UNet2DModel":
        raise ModelError(
            f"{root}: only unconditional UNet2DModel checkpoints are supported, "
            f"found {config.get('_class_name')}"
        )
    scheduler = read_scheduler_config(root)
    if scheduler.get("prediction_type", "epsilon") != "epsilon":
        raise ModelError(f"{root}: only epsilon-prediction models are supported")
    try:
        unet = UNet2DModel.from_pretrained(str(unet_dir), torch_dtype=dtype)
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot load the UNet in {unet_dir}: {error}") from error
    # cuDNN prefers NHWC; on the CPU it helps only with bf16 (measured +20%, none in fp32).
    channels_last = device.type == "cuda" or dtype == torch.bfloat16
    unet = unet.to(device=device)
    if channels_last:
        unet = unet.to(memory_format=torch.channels_last)
    unet.eval().requires_grad_(False)
    in_channels, out_channels = unet.config.in_channels, unet.config.out_channels
    variance = _variance_type(scheduler, out_channels, in_channels)
    sample_size = unet.config.sample_size
    native = max(sample_size) if isinstance(sample_size, list | tuple) else int(sample_size)
    return LoadedModel(
        name=name,
        denoiser=DiffusersUNetDenoiser(
            unet, in_channels, variance == "learned_range", channels_last
        ),
        training_betas=training_betas_from_config(scheduler),
        native_size=native,
        stride=2 ** (len(unet.config.block_out_channels) - 1),
        in_channels=in_channels,
        device=device,
        dtype=dtype,
        parameters=sum(p.numel() for p in unet.parameters()),
        variance_type=variance,
    )
