"""Random FLUX.1-dev parts in the key layouts the release and ComfyUI use, for tests that run a real host.

Layouts are written out here (no diffusers or host import), so `make_tiny_models.py` runs in the host's
venv too; tests/unit/project/test_tiny_flux.py checks the transformer key for key against diffusers' own
FluxTransformer2DModel, tests/host/test_host_facet5.py checks both parts against the host's modules.

What the host allows to be small (ComfyUI, October 2025):
- Transformer: the host detects FLUX from `double_blocks.0.img_attn.norm.key_norm.scale` and
  `img_in.weight` (after turning a diffusers-layout file into its own layout), reads from shapes
  only the block counts, the input channels, the pooled width and whether a guidance embedder
  exists, and fixes the rest (hidden 3072, 24 heads of 128, context 4096, MLP ratio 4). So the
  smallest FLUX.1-dev it loads has full widths and one block of each kind (~0.55 B parameters).
- VAE: FLUX's autoencoder (`ae.safetensors`) is the SD VAE's architecture with a 16-channel latent
  and no quant convs; the host builds it from a fixed config, so it is full size (~84 M).
"""
from __future__ import annotations

from dataclasses import dataclass

import tiny_sdxl
from tiny_sdxl import Shapes, _linear


@dataclass(frozen=True)
class FluxConfig:
    """The numbers that fix a FLUX transformer's keys in diffusers' layout (FluxTransformer2DModel)."""

    double_blocks: int = 1
    single_blocks: int = 1
    hidden: int = 3072  # heads x head dim: 24 x 128
    head_dim: int = 128
    in_channels: int = 64  # 16 latent channels x 2x2 patches
    context: int = 4096  # T5-XXL's width: what FaceT5's context replaces
    pooled: int = 768  # CLIP-L's pooled output
    mlp_ratio: int = 4
    guidance: bool = True  # FLUX.1-dev (guidance-distilled); schnell has none


TINY_FLUX_DEV = FluxConfig()


def _embedder(prefix: str, hidden: int, n_in: int) -> Shapes:
    return {**_linear(f"{prefix}.linear_1", hidden, n_in), **_linear(f"{prefix}.linear_2", hidden, hidden)}


def _qk_norms(prefix: str, names: tuple[str, ...], head_dim: int) -> Shapes:
    return {f"{prefix}.{name}.weight": (head_dim,) for name in names}


def dit_shapes(config: FluxConfig = TINY_FLUX_DEV) -> Shapes:
    """Key -> shape of a FLUX transformer state dict in diffusers' layout, as the release's `dit.pt`
    (a `FluxTransformer2DModel.state_dict()` saved with torch.save) holds it."""
    h, mlp = config.hidden, config.hidden * config.mlp_ratio
    shapes = {
        **_embedder("time_text_embed.timestep_embedder", h, 256),
        **(_embedder("time_text_embed.guidance_embedder", h, 256) if config.guidance else {}),
        **_embedder("time_text_embed.text_embedder", h, config.pooled),
        **_linear("context_embedder", h, config.context),
        **_linear("x_embedder", h, config.in_channels),
    }
    for i in range(config.double_blocks):
        block = f"transformer_blocks.{i}"
        shapes.update(_linear(f"{block}.norm1.linear", 6 * h, h))
        shapes.update(_linear(f"{block}.norm1_context.linear", 6 * h, h))
        shapes.update(_qk_norms(f"{block}.attn", ("norm_q", "norm_k", "norm_added_q", "norm_added_k"), config.head_dim))
        for proj in ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"):
            shapes.update(_linear(f"{block}.attn.{proj}", h, h))
        for ff in ("ff", "ff_context"):
            shapes.update(_linear(f"{block}.{ff}.net.0.proj", mlp, h))
            shapes.update(_linear(f"{block}.{ff}.net.2", h, mlp))
    for i in range(config.single_blocks):
        block = f"single_transformer_blocks.{i}"
        shapes.update(_linear(f"{block}.norm.linear", 3 * h, h))
        shapes.update(_linear(f"{block}.proj_mlp", mlp, h))
        shapes.update(_linear(f"{block}.proj_out", h, h + mlp))
        shapes.update(_qk_norms(f"{block}.attn", ("norm_q", "norm_k"), config.head_dim))
        for proj in ("to_q", "to_k", "to_v"):
            shapes.update(_linear(f"{block}.attn.{proj}", h, h))
    shapes.update(_linear("norm_out.linear", 2 * h, h))
    shapes.update(_linear("proj_out", config.in_channels, h))
    return shapes


def vae_shapes() -> Shapes:
    """Key -> shape of FLUX's autoencoder as `ae.safetensors` holds it (LDM layout)."""
    return {k: v for k, v in tiny_sdxl.vae_shapes(z_channels=16).items() if "quant_conv" not in k}
