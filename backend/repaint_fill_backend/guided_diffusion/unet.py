"""Our implementation of the guided-diffusion UNet (Dhariwal & Nichol, "Diffusion Models Beat GANs
on Image Synthesis", 2021), written from the paper and the public description of the network.

Module and parameter names mirror OpenAI's checkpoints (``input_blocks.1.0.in_layers.0.weight``,
``time_embed.0``, ``middle_block``, ``output_blocks``, ``out.2``, ``label_emb`` ...), so their
state dicts load with ``strict=True``. Only the 2-D image case is implemented.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import GuidedDiffusionConfig


class GroupNorm32(nn.GroupNorm):
    """GroupNorm with 32 groups that always computes in float32 (the fp16 torso relies on it)."""

    def __init__(self, channels: int) -> None:
        super().__init__(32, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


def timestep_embedding(
    timesteps: torch.Tensor, dim: int, max_period: float = 10000.0
) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps: [cos | sin], shape (N, dim)."""
    half = dim // 2
    exponent = torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    frequencies = torch.exp(-math.log(max_period) * exponent)
    angles = timesteps.float()[:, None] * frequencies[None, :]
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    if dim % 2:
        embedding = F.pad(embedding, (0, 1))
    return embedding


class Downsample(nn.Module):
    """Halve H and W: a strided 3x3 conv (``op``) or, without learned resampling, 2x2 averaging."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or channels
        if use_conv:
            self.op: nn.Module = nn.Conv2d(channels, out_channels, 3, stride=2, padding=1)
        elif out_channels != channels:
            raise ValueError("average-pool downsampling cannot change the channel count")
        else:
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """Double H and W (nearest neighbour), then an optional 3x3 conv (``conv``)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        self.conv = (
            nn.Conv2d(channels, out_channels or channels, 3, padding=1) if use_conv else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.conv is not None else x


class ResBlock(nn.Module):
    """Residual block conditioned on the timestep embedding; optionally resamples (up/down).

    With scale-shift norm the embedding gives a per-channel (scale, shift) applied after the
    second normalisation (FiLM); otherwise it is added before it.
    """

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        out_channels: int | None = None,
        *,
        use_scale_shift_norm: bool,
        up: bool = False,
        down: bool = False,
    ) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(
            GroupNorm32(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        self.updown = up or down
        resample: type[nn.Module] | None = Upsample if up else Downsample if down else None
        # h_upd / x_upd hold no parameters; kept as attributes for a familiar module tree.
        self.h_upd = resample(channels, False) if resample else nn.Identity()
        self.x_upd = resample(channels, False) if resample else nn.Identity()
        emb_out = 2 * out_channels if use_scale_shift_norm else out_channels
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out))
        self.out_layers = nn.Sequential(
            GroupNorm32(out_channels),
            nn.SiLU(),
            nn.Dropout(p=0.0),  # index 2 keeps the checkpoint's out_layers.3 name for the conv
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        if out_channels == channels:
            self.skip_connection: nn.Module = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            # Resample between the activation and the conv, and resample the skip path too.
            h = self.in_layers[2](self.h_upd(self.in_layers[1](self.in_layers[0](x))))
            x = self.x_upd(x)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[3](self.out_layers[2](self.out_layers[1](h)))
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all spatial positions, with a residual connection.

    ``legacy_order`` = the layout of OpenAI's 256x256 checkpoints: the qkv projection's channels
    are grouped per head as [q | k | v]; otherwise they are grouped as [all q | all k | all v].
    """

    def __init__(self, channels: int, num_heads: int, legacy_order: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.legacy_order = legacy_order
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, *spatial = x.shape
        flat = x.reshape(batch, channels, -1)
        qkv = self.qkv(self.norm(flat))
        attended = multi_head_attention(qkv, self.num_heads, self.legacy_order)
        return (flat + self.proj_out(attended)).reshape(batch, channels, *spatial)


def multi_head_attention(qkv: torch.Tensor, num_heads: int, legacy_order: bool) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v per head; qkv (N, 3 * heads * d, T) -> (N, heads * d, T)."""
    batch, width, length = qkv.shape
    head_dim = width // (3 * num_heads)
    if legacy_order:
        q, k, v = qkv.reshape(batch, num_heads, 3 * head_dim, length).split(head_dim, dim=2)
    else:
        q, k, v = (p.reshape(batch, num_heads, head_dim, length) for p in qkv.chunk(3, dim=1))
    # scaled_dot_product_attention wants (N, heads, T, d) and picks a memory-efficient kernel.
    out = F.scaled_dot_product_attention(q.transpose(2, 3), k.transpose(2, 3), v.transpose(2, 3))
    return out.transpose(2, 3).reshape(batch, num_heads * head_dim, length)


class TimestepSequential(nn.Sequential):
    """A sequence of layers; residual blocks among them also receive the timestep embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class GuidedDiffusionUNet(nn.Module):
    """The guided-diffusion UNet: ``forward(x, timesteps, y=None)`` -> (N, out_channels, H, W).

    H and W must be multiples of ``config.stride``. For class-conditional models ``y`` is either
    (N,) integer labels or (N, num_classes) label weights (a soft label; uniform weights give
    the average class embedding).
    """

    def __init__(self, config: GuidedDiffusionConfig) -> None:
        super().__init__()
        self.config = config
        emb_dim = config.time_embed_dim
        self.time_embed = nn.Sequential(
            nn.Linear(config.model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        if config.num_classes is not None:
            self.label_emb = nn.Embedding(config.num_classes, emb_dim)
        self.input_blocks, skip_channels, channels = self._build_encoder(config)
        self.middle_block = TimestepSequential(
            self._res(channels, channels),
            self._attention(channels),
            self._res(channels, channels),
        )
        self.output_blocks = self._build_decoder(config, skip_channels, channels)
        first = config.model_channels * config.channel_mult[0]
        self.out = nn.Sequential(
            GroupNorm32(first), nn.SiLU(), nn.Conv2d(first, config.out_channels, 3, padding=1)
        )
        self.torso_dtype = torch.float32
        if config.use_fp16:
            self.convert_torso(torch.float16)

    def _res(self, channels: int, out_channels: int, **updown: bool) -> ResBlock:
        return ResBlock(
            channels,
            self.config.time_embed_dim,
            out_channels,
            use_scale_shift_norm=self.config.use_scale_shift_norm,
            **updown,
        )

    def _attention(self, channels: int) -> AttentionBlock:
        config = self.config
        return AttentionBlock(
            channels, config.heads_for(channels), legacy_order=not config.use_new_attention_order
        )

    def _build_encoder(self, config: GuidedDiffusionConfig) -> tuple[nn.ModuleList, list[int], int]:
        """Input blocks; returns (blocks, channels of each block's output, final channels)."""
        channels = config.model_channels * config.channel_mult[0]
        blocks = nn.ModuleList(
            [TimestepSequential(nn.Conv2d(config.in_channels, channels, 3, padding=1))]
        )
        skip_channels, factor = [channels], 1
        for level, mult in enumerate(config.channel_mult):
            for _ in range(config.num_res_blocks):
                layers: list[nn.Module] = [self._res(channels, config.model_channels * mult)]
                channels = config.model_channels * mult
                if factor in config.attention_resolutions:
                    layers.append(self._attention(channels))
                blocks.append(TimestepSequential(*layers))
                skip_channels.append(channels)
            if level < len(config.channel_mult) - 1:
                down = (
                    self._res(channels, channels, down=True)
                    if config.resblock_updown
                    else Downsample(channels, config.conv_resample)
                )
                blocks.append(TimestepSequential(down))
                skip_channels.append(channels)
                factor *= 2
        return blocks, skip_channels, channels

    def _build_decoder(
        self, config: GuidedDiffusionConfig, skips: list[int], channels: int
    ) -> nn.ModuleList:
        """Output blocks, consuming the encoder's skip channels from the deepest one up."""
        blocks, skips = nn.ModuleList(), list(skips)
        factor = config.stride
        for level in reversed(range(len(config.channel_mult))):
            out_channels = config.model_channels * config.channel_mult[level]
            for i in range(config.num_res_blocks + 1):
                layers: list[nn.Module] = [self._res(channels + skips.pop(), out_channels)]
                channels = out_channels
                if factor in config.attention_resolutions:
                    layers.append(self._attention(channels))
                if level > 0 and i == config.num_res_blocks:
                    layers.append(
                        self._res(channels, channels, up=True)
                        if config.resblock_updown
                        else Upsample(channels, config.conv_resample)
                    )
                    factor //= 2
                blocks.append(TimestepSequential(*layers))
        return blocks

    def convert_torso(self, dtype: torch.dtype) -> None:
        """Cast the convolutions of the input, middle and output blocks to ``dtype``.

        Like the original's fp16 mode: norms (computed in float32 anyway), the embeddings' linear
        layers and the final ``out`` layers stay float32.
        """
        for torso in (self.input_blocks, self.middle_block, self.output_blocks):
            for module in torso.modules():
                if isinstance(module, nn.Conv1d | nn.Conv2d):
                    module.to(dtype)
        self.torso_dtype = dtype

    def forward(
        self, x: torch.Tensor, timesteps: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels))
        if self.config.num_classes is not None:
            if y is None:
                raise ValueError("this model is class-conditional: pass labels y")
            emb = emb + (self.label_emb(y) if y.dim() == 1 else y.to(emb) @ self.label_emb.weight)
        h = x.to(self.torso_dtype)
        skips = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        # The output layers stay float32 (as in the original's fp16 mode) whatever x's dtype.
        return self.out(h.to(self.out[2].weight.dtype)).to(x.dtype)
