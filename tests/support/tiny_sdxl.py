"""Random SDXL parts in the key layouts ComfyUI loads, for tests that run a real host.

Layouts are written out here (no host import), so unit tests and `make_tiny_models.py` work without
ComfyUI; `tests/host/test_host_harness.py` checks them key for key against the host's own modules.

What the host allows to be small (ComfyUI, October 2025):
- UNet (native layout): the host detects SDXL from model_channels 320, linear transformer
  projections, context_dim 2048, adm_in_channels 2816 and an input-side transformer depth of exactly
  [0, 0, 2, 2, 10, 10]. channel_mult, output-side and middle depths are free: the tiny UNet keeps
  320 channels on every level and one output/middle transformer per attention level (~150M params).
- UNet (diffusers layout): the host matches only whole known configs and then builds the full SDXL
  UNet (2.6B params) whatever the file holds, so a diffusers-layout test UNet has full SDXL shapes.
- CLIP-L / CLIP-G and the VAE: the host builds them from fixed configs (CLIP-L 12x768, CLIP-G
  32x1280, VAE ch 128 x [1, 2, 4, 4]); only the key names and shapes count, so these are full size.
  `compact=True` keeps such files small on disk: every tensor is a strided view of a short random
  vector (a Hankel-like tensor) that torch.save stores as is; safetensors cannot, so compact parts
  go in `.pt` files.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

Shapes = dict[str, tuple[int, ...]]

CLIP_VOCAB = 49408
CLIP_POSITIONS = 77


@dataclass(frozen=True)
class UNetConfig:
    """The numbers that fix an SDXL-family UNet's keys in ComfyUI's native (SGM) layout."""

    channel_mult: tuple[int, ...]
    depth: tuple[int, ...]  # transformer blocks per input-side res block, one number per level
    depth_output: tuple[int, ...]  # transformer blocks per output-side res block, one per level
    depth_middle: int  # -1: middle has no transformer
    model_channels: int = 320
    num_res_blocks: int = 2
    in_channels: int = 4
    out_channels: int = 4
    context_dim: int = 2048
    adm_in_channels: int = 2816


TINY_SDXL_UNET = UNetConfig(channel_mult=(1, 1, 1), depth=(0, 2, 10), depth_output=(0, 1, 1), depth_middle=1)
FULL_SDXL_UNET = UNetConfig(channel_mult=(1, 2, 4), depth=(0, 2, 10), depth_output=(0, 2, 10), depth_middle=10)


@dataclass(frozen=True)
class ClipConfig:
    width: int
    layers: int
    mlp_width: int


CLIP_L = ClipConfig(width=768, layers=12, mlp_width=3072)
CLIP_G = ClipConfig(width=1280, layers=32, mlp_width=5120)


def _linear(prefix: str, n_out: int, n_in: int, bias: bool = True) -> Shapes:
    shapes = {f"{prefix}.weight": (n_out, n_in)}
    if bias:
        shapes[f"{prefix}.bias"] = (n_out,)
    return shapes


def _conv(prefix: str, n_out: int, n_in: int, kernel: int = 3) -> Shapes:
    return {f"{prefix}.weight": (n_out, n_in, kernel, kernel), f"{prefix}.bias": (n_out,)}


def _norm(prefix: str, channels: int) -> Shapes:
    return {f"{prefix}.weight": (channels,), f"{prefix}.bias": (channels,)}


def _unet_resblock(prefix: str, n_in: int, n_out: int, emb: int) -> Shapes:
    shapes = {
        **_norm(f"{prefix}.in_layers.0", n_in),
        **_conv(f"{prefix}.in_layers.2", n_out, n_in),
        **_linear(f"{prefix}.emb_layers.1", n_out, emb),
        **_norm(f"{prefix}.out_layers.0", n_out),
        **_conv(f"{prefix}.out_layers.3", n_out, n_out),
    }
    if n_in != n_out:
        shapes.update(_conv(f"{prefix}.skip_connection", n_out, n_in, kernel=1))
    return shapes


def _spatial_transformer(prefix: str, channels: int, depth: int, context_dim: int) -> Shapes:
    shapes = {**_norm(f"{prefix}.norm", channels), **_linear(f"{prefix}.proj_in", channels, channels)}
    for i in range(depth):
        block = f"{prefix}.transformer_blocks.{i}"
        for attn, kv_dim in (("attn1", channels), ("attn2", context_dim)):
            shapes.update(_linear(f"{block}.{attn}.to_q", channels, channels, bias=False))
            shapes.update(_linear(f"{block}.{attn}.to_k", channels, kv_dim, bias=False))
            shapes.update(_linear(f"{block}.{attn}.to_v", channels, kv_dim, bias=False))
            shapes.update(_linear(f"{block}.{attn}.to_out.0", channels, channels))
        shapes.update(_linear(f"{block}.ff.net.0.proj", channels * 8, channels))  # GEGLU: 2 x 4·dim
        shapes.update(_linear(f"{block}.ff.net.2", channels, channels * 4))
        for norm in ("norm1", "norm2", "norm3"):
            shapes.update(_norm(f"{block}.{norm}", channels))
    shapes.update(_linear(f"{prefix}.proj_out", channels, channels))
    return shapes


def _unet_block(prefix: str, n_in: int, n_out: int, depth: int, config: UNetConfig) -> Shapes:
    """A res block, followed by a spatial transformer where the level has attention."""
    emb = config.model_channels * 4
    shapes = _unet_resblock(f"{prefix}.0", n_in, n_out, emb)
    if depth > 0:
        shapes.update(_spatial_transformer(f"{prefix}.1", n_out, depth, config.context_dim))
    return shapes


def unet_shapes(config: UNetConfig = TINY_SDXL_UNET) -> Shapes:
    """Key -> shape of a standalone SDXL-family UNet in ComfyUI's native layout (no key prefix)."""
    mc, emb = config.model_channels, config.model_channels * 4
    shapes = {
        **_linear("time_embed.0", emb, mc), **_linear("time_embed.2", emb, emb),
        **_linear("label_emb.0.0", emb, config.adm_in_channels), **_linear("label_emb.0.2", emb, emb),
        **_conv("input_blocks.0.0", mc, config.in_channels),
    }
    skip_channels, ch, index = [mc], mc, 1
    last_level = len(config.channel_mult) - 1
    for level, mult in enumerate(config.channel_mult):
        for _ in range(config.num_res_blocks):
            shapes.update(_unet_block(f"input_blocks.{index}", ch, mc * mult, config.depth[level], config))
            ch, index = mc * mult, index + 1
            skip_channels.append(ch)
        if level != last_level:
            shapes.update(_conv(f"input_blocks.{index}.0.op", ch, ch))
            index += 1
            skip_channels.append(ch)

    if config.depth_middle >= 0:
        shapes.update(_unet_block("middle_block", ch, ch, config.depth_middle, config))
        shapes.update(_unet_resblock("middle_block.2", ch, ch, emb))
    else:
        shapes.update(_unet_resblock("middle_block.0", ch, ch, emb))

    index = 0
    for level in reversed(range(len(config.channel_mult))):
        n_out, depth = mc * config.channel_mult[level], config.depth_output[level]
        for i in range(config.num_res_blocks + 1):
            shapes.update(_unet_block(f"output_blocks.{index}", ch + skip_channels.pop(), n_out, depth, config))
            ch = n_out
            if level and i == config.num_res_blocks:
                shapes.update(_conv(f"output_blocks.{index}.{2 if depth else 1}.conv", ch, ch))
            index += 1

    shapes.update(_norm("out.0", mc))
    shapes.update(_conv("out.2", config.out_channels, mc))
    return shapes


def _vae_resblock(prefix: str, n_in: int, n_out: int) -> Shapes:
    shapes = {
        **_norm(f"{prefix}.norm1", n_in), **_conv(f"{prefix}.conv1", n_out, n_in),
        **_norm(f"{prefix}.norm2", n_out), **_conv(f"{prefix}.conv2", n_out, n_out),
    }
    if n_in != n_out:
        shapes.update(_conv(f"{prefix}.nin_shortcut", n_out, n_in, kernel=1))
    return shapes


def _vae_mid(prefix: str, ch: int) -> Shapes:
    shapes = {**_vae_resblock(f"{prefix}.block_1", ch, ch), **_norm(f"{prefix}.attn_1.norm", ch)}
    for proj in ("q", "k", "v", "proj_out"):
        shapes.update(_conv(f"{prefix}.attn_1.{proj}", ch, ch, kernel=1))
    shapes.update(_vae_resblock(f"{prefix}.block_2", ch, ch))
    return shapes


def vae_shapes(ch: int = 128, ch_mult: tuple[int, ...] = (1, 2, 4, 4), num_res_blocks: int = 2, z_channels: int = 4) -> Shapes:
    """Key -> shape of the SD/SDXL AutoencoderKL in ComfyUI's (LDM) layout; the defaults are the only
    sizes the host builds for a 4-channel latent."""
    shapes = _conv("encoder.conv_in", ch, 3)
    block_in = ch
    for level, mult in enumerate(ch_mult):
        for b in range(num_res_blocks):
            shapes.update(_vae_resblock(f"encoder.down.{level}.block.{b}", block_in, ch * mult))
            block_in = ch * mult
        if level != len(ch_mult) - 1:
            shapes.update(_conv(f"encoder.down.{level}.downsample.conv", block_in, block_in))
    shapes.update(_vae_mid("encoder.mid", block_in))
    shapes.update(_norm("encoder.norm_out", block_in))
    shapes.update(_conv("encoder.conv_out", 2 * z_channels, block_in))
    shapes.update(_conv("quant_conv", 2 * z_channels, 2 * z_channels, kernel=1))
    shapes.update(_conv("post_quant_conv", z_channels, z_channels, kernel=1))

    shapes.update(_conv("decoder.conv_in", block_in, z_channels))
    shapes.update(_vae_mid("decoder.mid", block_in))
    for level in reversed(range(len(ch_mult))):
        for b in range(num_res_blocks + 1):
            shapes.update(_vae_resblock(f"decoder.up.{level}.block.{b}", block_in, ch * ch_mult[level]))
            block_in = ch * ch_mult[level]
        if level != 0:
            shapes.update(_conv(f"decoder.up.{level}.upsample.conv", block_in, block_in))
    shapes.update(_norm("decoder.norm_out", block_in))
    shapes.update(_conv("decoder.conv_out", 3, block_in))
    return shapes


def clip_text_shapes(config: ClipConfig) -> Shapes:
    """Key -> shape of a CLIP text tower in the Hugging Face layout ComfyUI's text encoders load."""
    w = config.width
    shapes = {
        "text_model.embeddings.token_embedding.weight": (CLIP_VOCAB, w),
        "text_model.embeddings.position_embedding.weight": (CLIP_POSITIONS, w),
    }
    for i in range(config.layers):
        layer = f"text_model.encoder.layers.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes.update(_linear(f"{layer}.self_attn.{proj}", w, w))
        shapes.update(_norm(f"{layer}.layer_norm1", w))
        shapes.update(_linear(f"{layer}.mlp.fc1", config.mlp_width, w))
        shapes.update(_linear(f"{layer}.mlp.fc2", w, config.mlp_width))
        shapes.update(_norm(f"{layer}.layer_norm2", w))
    shapes.update(_norm("text_model.final_layer_norm", w))
    shapes.update(_linear("text_projection", w, w, bias=False))
    return shapes


def _random_tensor(shape: tuple[int, ...], dtype: torch.dtype, generator: torch.Generator, compact: bool) -> torch.Tensor:
    std = math.prod(shape[1:]) ** -0.5
    if not compact:
        return (torch.randn(shape, generator=generator) * std).to(dtype)
    # element [i, j, ...] = base[i + j + ...]: looks random enough to a network, stores sum(shape) values.
    # Cast before the view: casting an overlapping view would materialise it.
    base = (torch.randn(sum(shape) - len(shape) + 1, generator=generator) * std).to(dtype)
    return base.as_strided(shape, (1,) * len(shape))


def compact_like(tensor: torch.Tensor, dtype: torch.dtype, generator: torch.Generator) -> torch.Tensor:
    """A compact random tensor of `tensor`'s shape and scale (for torch.save only, see the module doc)."""
    return _random_tensor(tuple(tensor.shape), dtype, generator, compact=True)


def random_state_dict(shapes: Shapes, dtype: torch.dtype = torch.float16, seed: int = 0, compact: bool = False) -> dict[str, torch.Tensor]:
    """Random weights for `shapes`: 1-D weights (norms) are ones, biases zeros, the rest scaled
    normal noise. `compact` tensors are views meant for torch.save only (see the module doc)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if len(shape) == 1:
            state[key] = (torch.ones if key.endswith(".weight") else torch.zeros)(shape, dtype=dtype)
        else:
            state[key] = _random_tensor(shape, dtype, generator, compact)
    return state
