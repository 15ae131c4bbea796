"""OpenAI's guided-diffusion UNet (our implementation) and its checkpoint loader.

The models RePaint's paper used (CelebA-HQ 256, Places2 256, ImageNet 256) are guided-diffusion
checkpoints; ``load_checkpoint_model`` turns one into the backend's uniform ``LoadedModel``.
"""

from .config import IMAGENET_256_CONDITIONAL, PAPER_256, GuidedDiffusionConfig
from .loading import (
    CheckpointError,
    GuidedDiffusionDenoiser,
    infer_config,
    load_checkpoint_model,
    load_guided_diffusion,
    read_state_dict,
)
from .unet import GuidedDiffusionUNet

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
