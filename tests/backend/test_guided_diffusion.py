"""The guided-diffusion UNet, its strict checkpoint loading, and its denoiser adapter."""

import math
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers_guided import SMALL, random_unet, save_small_checkpoint
from repaint_fill_backend.guided_diffusion import (
    IMAGENET_256_CONDITIONAL,
    PAPER_256,
    CheckpointError,
    GuidedDiffusionUNet,
    infer_config,
    load_checkpoint_model,
    load_guided_diffusion,
)
from repaint_fill_backend.guided_diffusion.unet import (
    multi_head_attention,
    timestep_embedding,
)

CPU = torch.device("cpu")


def batch(height=12, width=20, n=2, seed=1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, height, width, generator=generator)
    return x, torch.tensor([999, 17][:n])


def test_checkpoint_loads_strictly_with_inferred_config_and_same_outputs(tmp_path):
    path = save_small_checkpoint(tmp_path)
    model = load_checkpoint_model(path, CPU, torch.float32)
    x, t = batch()
    expected = random_unet()(x, t)
    output = model.denoiser.model(x, t)
    assert model.denoiser.model.config == SMALL
    assert torch.equal(output, expected)
    assert model.parameters == sum(p.numel() for p in random_unet().parameters())
    assert (model.stride, model.native_size, model.in_channels) == (4, 32, 3)
    assert model.variance_type == "learned_range"
    assert model.name == "small.pt"
    np.testing.assert_allclose(model.training_betas, np.linspace(1e-4, 0.02, 1000))


def test_without_sidecar_the_shapes_alone_load_strictly(tmp_path):
    path = save_small_checkpoint(tmp_path, sidecar={})
    model = load_checkpoint_model(path, CPU, torch.float32)
    config = model.denoiser.model.config
    # Heads and resolution are not in the weights: the 256x256 models' defaults apply.
    assert replace(config, num_head_channels=16, image_size=32) == SMALL
    assert (config.num_head_channels, model.native_size) == (64, 256)
    loaded = dict(model.denoiser.model.state_dict())
    for key, value in random_unet().state_dict().items():
        assert torch.equal(loaded[key], value), key


def test_forward_on_non_square_size_gives_eps_and_learned_variance_channels():
    model = random_unet()
    x, t = batch(height=12, width=28, n=3)
    t = torch.tensor([0, 500, 999])
    assert model(x, t).shape == (3, 6, 12, 28)


def test_denoiser_splits_eps_and_maps_v_to_a_fraction_in_unit_range():
    loaded = load_guided_diffusion(random_unet().state_dict(), SMALL, CPU, torch.float32)
    x, t = batch()
    raw = random_unet()(x, t)
    prediction = loaded.denoiser(x, t)
    assert torch.equal(prediction.eps, raw[:, :3])
    frac = prediction.variance_frac
    assert frac.shape == (2, 3, 12, 20)
    assert frac.min() >= 0 and frac.max() <= 1
    assert torch.allclose(frac, ((raw[:, 3:] + 1) / 2).clamp(0, 1))
    assert frac.std() > 0  # depends on the input: not a constant stand-in


def test_denoiser_uses_original_timesteps_and_accepts_half_inputs():
    loaded = load_guided_diffusion(random_unet().state_dict(), SMALL, CPU, torch.float32)
    x, _ = batch(n=1)
    late, early = loaded.denoiser(x, torch.tensor([999])), loaded.denoiser(x, torch.tensor([10]))
    assert not torch.allclose(late.eps, early.eps)
    half = loaded.denoiser(x.half(), torch.tensor([999]))
    assert half.eps.dtype == torch.float32
    assert torch.allclose(half.eps, late.eps, atol=1e-2)


def test_class_conditional_labels_and_the_average_class_default(tmp_path):
    config = replace(SMALL, num_classes=5)
    network = random_unet(config)
    x, t = batch()
    for_class = {c: network(x, t, torch.tensor([c, c])) for c in range(5)}
    uniform = network(x, t, torch.full((2, 5), 0.2))
    inferred = load_guided_diffusion(network.state_dict(), None, CPU, torch.float32)
    assert inferred.denoiser.model.config.num_classes == 5
    averaged = load_guided_diffusion(network.state_dict(), config, CPU, torch.float32)
    assert torch.allclose(averaged.denoiser(x, t).eps, uniform[:, :3], atol=1e-6)
    assert not torch.allclose(uniform, for_class[0], atol=1e-4)
    chosen = load_guided_diffusion(network.state_dict(), config, CPU, torch.float32, class_label=3)
    assert torch.allclose(chosen.denoiser(x, t).eps, for_class[3][:, :3], atol=1e-6)
    path = save_small_checkpoint(tmp_path, "cond.pt", config, sidecar={"class_label": 4})
    from_sidecar = load_checkpoint_model(path, CPU, torch.float32).denoiser
    assert from_sidecar.class_label == 4
    with pytest.raises(CheckpointError, match="class_label 7"):
        load_guided_diffusion(network.state_dict(), None, CPU, torch.float32, class_label=7)
    with pytest.raises(ValueError, match="class-conditional"):
        network(x, t)


def test_half_precision_converts_only_the_torso_convolutions():
    loaded = load_guided_diffusion(random_unet().state_dict(), SMALL, CPU, torch.float16)
    network = loaded.denoiser.model
    assert loaded.dtype == torch.float16
    torso = (network.input_blocks, network.middle_block, network.output_blocks)
    convs = [
        m
        for part in torso
        for m in part.modules()
        if isinstance(m, torch.nn.Conv1d | torch.nn.Conv2d)
    ]
    assert convs and all(c.weight.dtype == torch.float16 for c in convs)
    assert network.middle_block[0].in_layers[0].weight.dtype == torch.float32  # GroupNorm
    assert network.middle_block[0].emb_layers[1].weight.dtype == torch.float32  # Linear
    assert network.time_embed[0].weight.dtype == torch.float32
    assert network.out[2].weight.dtype == torch.float32
    x, t = batch()
    try:
        half = loaded.denoiser(x, t)
    except RuntimeError as error:  # some CPU builds have no float16 convolution
        pytest.skip(f"float16 convolution unsupported on this CPU build: {error}")
    full = load_guided_diffusion(random_unet().state_dict(), SMALL, CPU, torch.float32)
    assert half.eps.dtype == torch.float32
    assert torch.allclose(half.eps, full.denoiser(x, t).eps, atol=2e-2)


def test_timestep_embedding_is_cos_then_sin_like_the_checkpoints():
    embedding = timestep_embedding(torch.tensor([0.0, 1.0]), 8)
    assert torch.equal(embedding[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    frequencies = torch.tensor([10000 ** (-i / 4) for i in range(4)])
    assert torch.allclose(embedding[1, :4], torch.cos(frequencies))
    assert torch.allclose(embedding[1, 4:], torch.sin(frequencies))


def test_attention_matches_the_explicit_softmax_formula():
    generator = torch.Generator().manual_seed(0)
    heads, dim, length = 2, 8, 10
    qkv = torch.randn(1, 3 * heads * dim, length, generator=generator)
    # legacy layout: per head [q | k | v]
    q, k, v = qkv.reshape(heads, 3 * dim, length).split(dim, dim=1)
    weights = torch.softmax(torch.einsum("hct,hcs->hts", q, k) / math.sqrt(dim), dim=-1)
    expected = torch.einsum("hts,hcs->hct", weights, v).reshape(1, heads * dim, length)
    assert torch.allclose(multi_head_attention(qkv, heads, True), expected, atol=1e-5)
    assert not torch.allclose(multi_head_attention(qkv, heads, False), expected, atol=1e-3)


def test_paper_architecture_has_the_published_parameter_count():
    with torch.device("meta"):
        unconditional = GuidedDiffusionUNet(PAPER_256)
        conditional = GuidedDiffusionUNet(IMAGENET_256_CONDITIONAL)
    count = sum(p.numel() for p in unconditional.parameters())
    assert abs(count - 552.8e6) < 0.5e6  # 256x256_diffusion_uncond.pt, CelebA-HQ, Places2
    assert sum(p.numel() for p in conditional.parameters()) == count + 1000 * 1024
    names = unconditional.state_dict().keys()
    for key in (
        "time_embed.0.weight",
        "time_embed.2.weight",
        "input_blocks.0.0.weight",
        "input_blocks.3.0.in_layers.2.weight",  # the first down-sampling residual block
        "input_blocks.17.1.qkv.weight",
        "middle_block.1.proj_out.weight",
        "output_blocks.2.2.out_layers.3.weight",  # attention, then the up-sampling block
        "output_blocks.14.1.emb_layers.1.weight",
        "output_blocks.17.0.skip_connection.weight",
        "out.2.weight",
    ):
        assert key in names, key
    assert "label_emb.weight" in conditional.state_dict()
    assert infer_config(unconditional.state_dict()) == PAPER_256
    assert infer_config(conditional.state_dict()) == IMAGENET_256_CONDITIONAL
    assert PAPER_256.stride == 32


def test_variants_of_the_architecture_are_inferred_from_shapes():
    variants = [
        replace(SMALL, num_res_blocks=2, attention_resolutions=(1, 4), learn_sigma=False),
        replace(SMALL, resblock_updown=False, use_scale_shift_norm=False),
        replace(SMALL, resblock_updown=False, conv_resample=False, channel_mult=(1, 1, 2)),
    ]
    for config in variants:
        with torch.device("meta"):
            network = GuidedDiffusionUNet(config)
        inferred = infer_config(network.state_dict(), num_head_channels=16, image_size=32)
        assert inferred == config


def test_mismatched_or_foreign_checkpoints_fail_with_a_clear_error(tmp_path):
    state = random_unet().state_dict()
    incomplete = {k: v for k, v in state.items() if k != "middle_block.1.qkv.weight"}
    with pytest.raises(CheckpointError, match="missing .*middle_block.1.qkv.weight"):
        load_guided_diffusion(incomplete, SMALL, CPU, torch.float32)
    with pytest.raises(CheckpointError, match="shape"):
        load_guided_diffusion(state, replace(SMALL, model_channels=64), CPU, torch.float32)
    with pytest.raises(CheckpointError, match="not a guided-diffusion"):
        infer_config({"conv_in.weight": torch.zeros(8, 3, 3, 3)})


def test_checkpoints_that_would_run_code_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with path.open("wb") as handle:
        pickle.dump(PickledCall(), handle, protocol=2)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint_model(path, CPU, torch.float32)


class PickledCall:
    """Unpickling this would call a function: weights_only loading must refuse it."""

    def __reduce__(self):
        return (print, ("unpickled",))
