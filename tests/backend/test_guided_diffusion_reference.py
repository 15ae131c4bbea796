"""Our UNet against OpenAI's own code: same parameter names, same outputs for the same weights.

The oracle is OpenAI's guided-diffusion (MIT), as packaged on PyPI by `guided-diffusion-sdk`
(install with `pip install --no-deps guided-diffusion-sdk==1.0.0`; it is a test-only aid and
nothing of it ships). Skipped when it is not installed.
"""

from dataclasses import replace

import pytest
import torch

reference = pytest.importorskip(
    "guided_diffusion.unet", reason="guided-diffusion-sdk not installed"
)

from helpers_guided import SMALL  # noqa: E402
from repaint_fill_backend.guided_diffusion import (  # noqa: E402
    IMAGENET_256_CONDITIONAL,
    PAPER_256,
    GuidedDiffusionUNet,
    infer_config,
    load_guided_diffusion,
)


def openai_unet(config, use_fp16=False):
    return reference.UNetModel(
        image_size=config.image_size,
        in_channels=config.in_channels,
        model_channels=config.model_channels,
        out_channels=config.out_channels,
        num_res_blocks=config.num_res_blocks,
        attention_resolutions=config.attention_resolutions,
        channel_mult=config.channel_mult,
        conv_resample=config.conv_resample,
        num_classes=config.num_classes,
        use_fp16=use_fp16,
        num_heads=config.num_heads,
        num_head_channels=config.num_head_channels,
        use_scale_shift_norm=config.use_scale_shift_norm,
        resblock_updown=config.resblock_updown,
        use_new_attention_order=config.use_new_attention_order,
    ).eval()


@pytest.mark.parametrize("config", [PAPER_256, IMAGENET_256_CONDITIONAL], ids=["uncond", "cond"])
def test_paper_models_have_the_same_parameter_names_and_shapes(config):
    with torch.device("meta"):
        theirs, ours = openai_unet(config), GuidedDiffusionUNet(config)
    their_shapes = {k: v.shape for k, v in theirs.state_dict().items()}
    assert their_shapes == {k: v.shape for k, v in ours.state_dict().items()}
    assert infer_config(theirs.state_dict()) == config


VARIANTS = {
    "small": SMALL,
    "conditional-new-order": replace(
        SMALL, num_res_blocks=2, attention_resolutions=(2, 4), num_classes=10,
        use_new_attention_order=True,
    ),
    "plain-resampling": replace(
        SMALL, channel_mult=(1, 2), attention_resolutions=(1,), num_head_channels=-1,
        num_heads=2, resblock_updown=False, use_scale_shift_norm=False, learn_sigma=False,
    ),
    "average-pool": replace(SMALL, resblock_updown=False, conv_resample=False),
}  # fmt: skip


@pytest.mark.parametrize("name", VARIANTS)
def test_same_weights_give_the_same_outputs(name):
    config = VARIANTS[name]
    torch.manual_seed(0)
    theirs = openai_unet(config)
    with torch.no_grad():
        for parameter in theirs.parameters():
            parameter.normal_(0, 0.05)
    state = theirs.state_dict()
    hints = {k: getattr(config, k) for k in ("num_head_channels", "num_heads", "image_size")}
    inferred = infer_config(state, use_new_attention_order=config.use_new_attention_order, **hints)
    assert inferred == config
    ours = load_guided_diffusion(state, inferred, "cpu", torch.float32).denoiser.model
    x, t = torch.randn(2, 3, 12, 20), torch.tensor([999, 17])
    y = torch.tensor([3, 7]) if config.num_classes else None
    with torch.no_grad():
        expected = theirs(x, t, y)
        assert torch.allclose(ours(x, t, y), expected, atol=1e-6)
        # float16 torso: compared with their use_fp16 mode on the same weights
        theirs.convert_to_fp16()
        theirs.dtype = torch.float16
        ours16 = load_guided_diffusion(state, inferred, "cpu", torch.float16).denoiser.model
        try:
            expected16 = theirs(x, t, y)
        except RuntimeError as error:
            pytest.skip(f"float16 convolution unsupported on this CPU build: {error}")
        assert torch.allclose(ours16(x, t, y), expected16, atol=1e-3)
