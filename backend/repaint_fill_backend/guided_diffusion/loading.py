"""guided-diffusion checkpoints -> ``LoadedModel``: read, infer the architecture, load, adapt.

Weights go straight to the target device and dtype: the file is memory-mapped
(``torch.load(mmap=True, weights_only=True)``), the network is built on the ``meta`` device
(no memory), and each tensor is moved/cast once and assigned (``load_state_dict(strict=True,
assign=True)``). Peak host memory is about one copy of the weights in the page cache, not two.

The paper's 552.8M-parameter models: 2.21 GB of weights in float32; 1.22 GB with a float16 torso
(498M parameters in float16, the rest float32). Measured on a CPU at 256x256, batch 1: peak RSS
3.2 GB in float32 (weights + ~0.75 GB activations + runtime); see the README's "Models" section.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch

from ..denoiser import LoadedModel, Prediction
from ..exceptions import CheckpointError
from ..schedule import linear_betas
from .config import GuidedDiffusionConfig
from .unet import GuidedDiffusionUNet

# Facts a state dict cannot tell (attention heads and layout, training resolution): taken from a
# sidecar JSON, else from the caller's known config (the registry's), else the defaults.
NOT_IN_WEIGHTS = ("image_size", "num_head_channels", "num_heads", "use_new_attention_order")
SIDECAR_EXTRA_KEYS = ("class_label", "name")
TRAINING_STEPS = 1000  # every guided-diffusion model we know: linear betas 1e-4..0.02 over 1000


StateDict = dict[str, torch.Tensor]


def read_state_dict(path: Path) -> StateDict:
    """Load a plain state dict safely (no pickled code) and memory-mapped when possible."""
    mmap = zipfile.is_zipfile(path)  # the legacy (pre-1.6) format cannot be memory-mapped
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"cannot read {path} as a PyTorch weights file: {error}") from error
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise CheckpointError(f"{path} does not contain a state dict (name -> tensor)")
    return {key.removeprefix("module."): value for key, value in loaded.items()}


def _indices(state_dict: StateDict, prefix: str) -> list[int]:
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    return sorted({int(m.group(1)) for key in state_dict if (m := pattern.match(key))})


def _has(state_dict: StateDict, prefix: str) -> bool:
    return any(key.startswith(prefix) for key in state_dict)


def _find_upsampler(state_dict: StateDict, count: int) -> tuple[int, bool] | None:
    """(index of the first output block that upsamples, whether it is a ResBlock), or None.

    That index equals num_res_blocks. An upsampler is layer 1 or 2 of its block: a ResBlock
    (``in_layers``, resblock_updown) or an Upsample's learned ``conv``; attention has ``qkv``.
    """
    for j in range(count):
        for k in (1, 2):
            prefix = f"output_blocks.{j}.{k}."
            if _has(state_dict, prefix + "in_layers"):
                return j, True
            if _has(state_dict, prefix + "conv"):
                return j, False
    return None


def _find_downsampler(state_dict: StateDict, count: int) -> tuple[int, bool] | None:
    """(index of the first input block that only downsamples, whether it has a conv), or None.

    Only plain Downsample blocks are visible here: a strided conv (``op``) or average pooling,
    which has no parameters and so leaves a gap in the block indices.
    """
    for i in range(1, count):
        prefix = f"input_blocks.{i}."
        if _has(state_dict, prefix + "0.op"):
            return i, True
        if not _has(state_dict, prefix):
            return i, False
    return None


class _Structure(NamedTuple):
    num_res_blocks: int
    levels: int
    resblock_updown: bool
    conv_resample: bool


def _block_structure(state_dict: StateDict) -> _Structure:
    """Residual blocks per level, number of levels and the kind of resampling."""
    # max + 1, not a count: a parameter-free Downsample (average pooling) leaves a gap.
    n_in = max(_indices(state_dict, "input_blocks")) + 1
    n_out = max(_indices(state_dict, "output_blocks"), default=-1) + 1
    upsampler = _find_upsampler(state_dict, n_out)
    downsampler = _find_downsampler(state_dict, n_in)
    if upsampler is not None:  # (with resblock_updown, conv_resample plays no part)
        res_blocks, resblock_updown, conv_resample = upsampler[0], upsampler[1], True
    elif downsampler is not None:  # average-pool Downsample + conv-free Upsample
        res_blocks, resblock_updown, conv_resample = downsampler[0] - 1, False, downsampler[1]
    else:  # a single level: nothing resamples
        res_blocks, resblock_updown, conv_resample = n_out - 1, True, True
    levels = n_out // (res_blocks + 1) if res_blocks >= 1 else 0
    if res_blocks < 1 or levels * (res_blocks + 1) != n_out or n_in != n_out:
        raise CheckpointError(f"cannot read the block structure ({n_in} in, {n_out} out blocks)")
    return _Structure(res_blocks, levels, resblock_updown, conv_resample)


def infer_config(state_dict: StateDict, **overrides: Any) -> GuidedDiffusionConfig:
    """The architecture of a guided-diffusion state dict, read from its tensor shapes.

    ``overrides`` set what the weights cannot show (see ``NOT_IN_WEIGHTS``) or replace any
    inferred field. Raises CheckpointError when the dict is not a guided-diffusion UNet.
    """
    required = ("input_blocks.0.0.weight", "time_embed.0.weight", "out.2.weight")
    missing = [key for key in required if key not in state_dict]
    if missing:
        raise CheckpointError(
            "not a guided-diffusion UNet checkpoint (missing " + ", ".join(missing) + ")"
        )
    in_channels = state_dict["input_blocks.0.0.weight"].shape[1]
    model_channels = state_dict["time_embed.0.weight"].shape[1]
    out_channels = state_dict["out.2.weight"].shape[0]
    if out_channels not in (in_channels, 2 * in_channels):
        raise CheckpointError(f"unexpected output channels {out_channels} for {in_channels} in")
    structure = _block_structure(state_dict)
    mults, attention = [], []
    for level in range(structure.levels):
        block = 1 + level * (structure.num_res_blocks + 1)  # first residual block of the level
        width = state_dict[f"input_blocks.{block}.0.out_layers.0.weight"].shape[0]
        mults.append(width // model_channels)
        if f"input_blocks.{block}.1.qkv.weight" in state_dict:
            attention.append(2**level)
    middle_width = state_dict["middle_block.0.out_layers.0.weight"].shape[0]
    labels = state_dict.get("label_emb.weight")
    inferred = {
        "in_channels": in_channels,
        "model_channels": model_channels,
        "channel_mult": tuple(mults),
        "num_res_blocks": structure.num_res_blocks,
        "attention_resolutions": tuple(attention),
        "resblock_updown": structure.resblock_updown,
        "conv_resample": structure.conv_resample,
        "use_scale_shift_norm": state_dict["middle_block.0.emb_layers.1.weight"].shape[0]
        == 2 * middle_width,
        "learn_sigma": out_channels == 2 * in_channels,
        "num_classes": labels.shape[0] if labels is not None else None,
    }
    try:
        return GuidedDiffusionConfig(**{**inferred, **overrides})
    except TypeError as error:
        raise CheckpointError(f"bad guided-diffusion config override: {error}") from error


def build_on_meta(config: GuidedDiffusionConfig, torso_dtype: torch.dtype) -> GuidedDiffusionUNet:
    """The network with parameters on the ``meta`` device (no memory), torso in ``torso_dtype``."""
    with torch.device("meta"):
        model = GuidedDiffusionUNet(replace(config, use_fp16=False))
    if torso_dtype != torch.float32:
        model.convert_torso(torso_dtype)
    return model


def materialize(
    model: GuidedDiffusionUNet, state_dict: StateDict, device: torch.device, *, consume: bool
) -> GuidedDiffusionUNet:
    """Move/cast every tensor once to its parameter's device and dtype, then assign strictly.

    consume: empty ``state_dict`` while converting, so each source tensor can be freed early.
    """
    targets = dict(model.named_parameters())
    missing = sorted(set(targets) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(targets))
    wrong = [k for k in targets if k in state_dict and state_dict[k].shape != targets[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(_mismatch_message(missing, unexpected, wrong))
    prepared = {}
    for key in list(state_dict):
        tensor = state_dict.pop(key) if consume else state_dict[key]
        prepared[key] = tensor.to(device=device, dtype=targets[key].dtype)
    model.load_state_dict(prepared, strict=True, assign=True)
    return model.eval().requires_grad_(False)


def _mismatch_message(missing: list[str], unexpected: list[str], wrong: list[str]) -> str:
    parts = [
        f"{label} ({len(keys)}): {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", wrong))
        if keys
    ]
    return "the checkpoint does not match the guided-diffusion UNet config: " + "; ".join(parts)


class GuidedDiffusionDenoiser:
    """Adapter: ``denoiser(x_t, t) -> Prediction`` for a guided-diffusion UNet.

    t: the ORIGINAL training timesteps (0..999), one per batch item (a scalar is broadcast). The
    RePaint configs use ``rescale_timesteps: false``, so the network sees these integers as they
    are; the sampler maps its respaced indices to them. Inputs of any float dtype are accepted;
    the network runs in float32 at its ends and in the torso dtype inside; outputs are float32.
    variance_frac = (v + 1) / 2 for learned-sigma models, clamped to [0, 1] (values outside would
    extrapolate past beta_t or beta_tilde_t, which no step of the reference intends).
    class_label: for class-conditional models, a fixed class index, or None for the average
    of all class embeddings (a class-agnostic choice of ours; no classifier guidance is done).
    """

    def __init__(self, model: GuidedDiffusionUNet, class_label: int | None = None) -> None:
        config = model.config
        if class_label is not None and not (
            config.num_classes and 0 <= class_label < config.num_classes
        ):
            raise CheckpointError(
                f"class_label {class_label} is not a class of this model "
                f"({config.num_classes or 'unconditional'})"
            )
        self.model = model
        self.class_label = class_label

    def _labels(self, batch: int, device: torch.device) -> torch.Tensor | None:
        classes = self.model.config.num_classes
        if classes is None:
            return None
        if self.class_label is not None:
            return torch.full((batch,), self.class_label, dtype=torch.long, device=device)
        return torch.full((batch, classes), 1.0 / classes, device=device)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> Prediction:
        timesteps = torch.as_tensor(t, device=x.device).float().expand(x.shape[0])
        output = self.model(x.float(), timesteps, self._labels(x.shape[0], x.device))
        channels = self.model.config.in_channels
        if not self.model.config.learn_sigma:
            return Prediction(output)
        eps, v = output.split(channels, dim=1)
        return Prediction(eps, ((v + 1) / 2).clamp(0.0, 1.0))


def load_guided_diffusion(
    source: Path | str | StateDict,
    config: GuidedDiffusionConfig | None,
    device: torch.device | str,
    dtype: torch.dtype,
    *,
    name: str | None = None,
    class_label: int | None = None,
) -> LoadedModel:
    """Load a guided-diffusion checkpoint (a path or a state dict) as a LoadedModel.

    config None = infer it from the tensor shapes. dtype float16/bfloat16 puts the torso (input,
    middle and output blocks' convolutions) in that dtype, like guided-diffusion's use_fp16.
    A state dict passed in is not modified.
    """
    if isinstance(source, dict):
        return _load(dict(source), config, device, dtype, name or "guided-diffusion", class_label)
    path = Path(source)
    return _load(read_state_dict(path), config, device, dtype, name or path.name, class_label)


def _load(
    state_dict: StateDict,
    config: GuidedDiffusionConfig | None,
    device: torch.device | str,
    dtype: torch.dtype,
    name: str,
    class_label: int | None,
) -> LoadedModel:
    """Build, fill (consuming ``state_dict``) and wrap the network."""
    device = torch.device(device)
    config = config or infer_config(state_dict)
    model = materialize(build_on_meta(config, dtype), state_dict, device, consume=True)
    return LoadedModel(
        name=name,
        denoiser=GuidedDiffusionDenoiser(model, class_label),
        training_betas=linear_betas(TRAINING_STEPS, 1e-4, 0.02),
        native_size=config.image_size,
        stride=config.stride,
        in_channels=config.in_channels,
        device=device,
        dtype=dtype,
        parameters=sum(p.numel() for p in model.parameters()),
        # guided-diffusion without learned sigma defaults to the large fixed variance (beta_t).
        variance_type="learned_range" if config.learn_sigma else "fixed_large",
    )


def sidecar_path(checkpoint: Path) -> Path:
    """``model.pt`` -> ``model.json``: optional settings the weights cannot carry."""
    return checkpoint.with_suffix(".json")


def read_sidecar(checkpoint: Path) -> dict[str, Any]:
    """The sidecar JSON's settings ({} when there is none); unknown keys are an error."""
    path = sidecar_path(checkpoint)
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read the model settings file {path}: {error}") from error
    allowed = {f.name for f in fields(GuidedDiffusionConfig)} | set(SIDECAR_EXTRA_KEYS)
    unknown = sorted(set(values) - allowed) if isinstance(values, dict) else ["(not an object)"]
    if unknown:
        raise CheckpointError(f"{path}: unknown settings {', '.join(unknown)}")
    return values


def load_checkpoint_model(
    path: Path,
    device: torch.device,
    dtype: torch.dtype,
    *,
    known: GuidedDiffusionConfig | None = None,
    name: str | None = None,
    class_label: int | None = None,
) -> LoadedModel:
    """Load a local guided-diffusion ``.pt`` file, its architecture inferred from its shapes.

    What the shapes cannot show comes from ``<file>.json`` next to it (any config field plus
    ``class_label`` and ``name``), else from ``known`` and the given ``name`` / ``class_label``
    (the registry's facts for this file, passed by ``models``), else the defaults of OpenAI's
    256x256 models (64 channels per head, legacy attention order, 256) and the file's name.
    """
    path = Path(path)
    settings = read_sidecar(path)
    hints = {key: getattr(known or GuidedDiffusionConfig(), key) for key in NOT_IN_WEIGHTS}
    overrides = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in settings.items()
        if key not in SIDECAR_EXTRA_KEYS
    }
    state_dict = read_state_dict(path)
    config = infer_config(state_dict, **{**hints, **overrides})
    name = settings.get("name") or name or path.name
    return _load(state_dict, config, device, dtype, name, settings.get("class_label", class_label))
