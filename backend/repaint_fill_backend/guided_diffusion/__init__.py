"""OpenAI's guided-diffusion UNet (our implementation) and its checkpoint loader.

The models RePaint's paper used (CelebA-HQ 256, Places2 256, ImageNet 256) are guided-diffusion
checkpoints; ``load_checkpoint_model`` turns one into the backend's uniform ``LoadedModel``.
The architecture configs load without torch (the model registry reads them); the network and
its loader load on first use.
"""

from __future__ import annotations

from typing import Any

from .config import IMAGENET_256_CONDITIONAL, PAPER_256, GuidedDiffusionConfig

_NEED_TORCH = {
    "CheckpointError": "loading",
    "GuidedDiffusionDenoiser": "loading",
    "infer_config": "loading",
    "load_checkpoint_model": "loading",
    "load_guided_diffusion": "loading",
    "read_state_dict": "loading",
    "GuidedDiffusionUNet": "unet",
}

__all__ = [
    "IMAGENET_256_CONDITIONAL",
    "PAPER_256",
    "CheckpointError",
    "GuidedDiffusionConfig",
    "GuidedDiffusionDenoiser",
    "GuidedDiffusionUNet",
    "infer_config",
    "load_checkpoint_model",
    "load_guided_diffusion",
    "read_state_dict",
]


def __getattr__(name: str) -> Any:
    """The network and the loader (torch) on first use."""
    if name not in _NEED_TORCH:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import loading, unet

    return getattr({"loading": loading, "unet": unet}[_NEED_TORCH[name]], name)
