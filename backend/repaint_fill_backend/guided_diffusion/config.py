"""The architecture of a guided-diffusion UNet (Dhariwal & Nichol 2021) as one frozen value."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class GuidedDiffusionConfig:
    """Everything that fixes the network's shape and behaviour.

    Field names follow guided-diffusion's command-line flags where one exists, but
    ``attention_resolutions`` holds DOWNSAMPLE FACTORS (8, 16, 32), not the flag's pixel
    resolutions ("32,16,8" at image size 256): use :meth:`attention_at_pixels` to convert.
    """

    image_size: int = 256  # the training resolution; the working size's longest side
    in_channels: int = 3
    model_channels: int = 256
    channel_mult: tuple[int, ...] = (1, 1, 2, 2, 4, 4)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (8, 16, 32)  # downsample factors with attention
    num_head_channels: int = 64  # channels per attention head; -1 = use num_heads instead
    num_heads: int = 4  # only used when num_head_channels == -1
    use_new_attention_order: bool = False  # False = the "legacy" qkv layout of the 256 models
    resblock_updown: bool = True
    use_scale_shift_norm: bool = True
    conv_resample: bool = True  # learned convs in Downsample/Upsample (without resblock_updown)
    learn_sigma: bool = True  # 2 * in_channels outputs: eps and the variance interpolation v
    num_classes: int | None = None  # class-conditional when set (ImageNet: 1000)
    use_fp16: bool = False  # run the torso (input, middle, output blocks) in float16

    @property
    def out_channels(self) -> int:
        return self.in_channels * (2 if self.learn_sigma else 1)

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this: 2 ** number of downsamplings."""
        return 2 ** (len(self.channel_mult) - 1)

    @property
    def time_embed_dim(self) -> int:
        return self.model_channels * 4

    def heads_for(self, channels: int) -> int:
        """Number of attention heads of a block with ``channels`` channels."""
        if self.num_head_channels == -1:
            return self.num_heads
        if channels % self.num_head_channels:
            raise ValueError(
                f"attention channels {channels} are not a multiple of num_head_channels "
                f"{self.num_head_channels}"
            )
        return channels // self.num_head_channels

    @classmethod
    def attention_at_pixels(cls, image_size: int, resolutions: str) -> tuple[int, ...]:
        """Convert guided-diffusion's flag ("32,16,8" pixels) into downsample factors."""
        return tuple(sorted(image_size // int(r) for r in resolutions.split(",") if r.strip()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GuidedDiffusionConfig:
        """Build from a dict such as a sidecar JSON; unknown keys are an error, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown guided-diffusion config keys: {', '.join(unknown)}")
        converted = {
            k: tuple(v) if k in ("channel_mult", "attention_resolutions") else v
            for k, v in values.items()
        }
        return cls(**converted)


# The architecture of OpenAI's 256x256 ImageNet models and of RePaint's CelebA-HQ / Places2
# models (RePaint configs: num_channels 256, attention 32,16,8, num_head_channels 64, 2 res
# blocks, resblock_updown, scale-shift norm, learned sigma, legacy attention order).
PAPER_256 = GuidedDiffusionConfig()
IMAGENET_256_CONDITIONAL = GuidedDiffusionConfig(num_classes=1000)
