"""A tiny full SDXL checkpoint (UNet + VAE + CLIP-L + CLIP-G in one .safetensors), for CheckpointLoaderSimple.

Key prefixes are those of Stability's sd_xl_base_1.0.safetensors, which the host maps back (ComfyUI, Oct. 2025):
- `model.diffusion_model.`: the UNet in native layout (the host picks the UNet prefix by key count);
- `first_stage_model.`: the VAE (the model config's vae_key_prefix);
- `conditioner.embedders.0.transformer.text_model.`: CLIP-L in the Hugging Face layout;
- `conditioner.embedders.1.model.`: CLIP-G in OpenCLIP's layout (fused in_proj, resblocks, ln_final,
  text_projection stored transposed), which the host converts with clip_text_transformers_convert.

The parts are those of tiny_sdxl.py; the text towers must be full size (the host builds them from fixed
configs), 0.8B parameters. safetensors stores every byte, so their transformer-layer matrices are written as
zeros in a sparse file: each layer is then the identity on the residual stream, the towers stay differentiable
and the token embeddings (random) still decide the output. Logical size ~2.6 GB, on disk ~0.7 GB.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

import tiny_sdxl
from tiny_sdxl import ClipConfig, Shapes

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
CLIP_G_PREFIX = "conditioner.embedders.1.model."
DTYPE = torch.float16
SAFETENSORS_DTYPE = {torch.float16: "F16"}


def open_clip_text_shapes(config: ClipConfig) -> Shapes:
    """Key -> shape of a CLIP text tower in OpenCLIP's layout (SDXL checkpoints' CLIP-G)."""
    w = config.width
    shapes: Shapes = {"token_embedding.weight": (tiny_sdxl.CLIP_VOCAB, w), "positional_embedding": (tiny_sdxl.CLIP_POSITIONS, w)}
    for i in range(config.layers):
        block = f"transformer.resblocks.{i}"
        shapes.update({f"{block}.attn.in_proj_weight": (3 * w, w), f"{block}.attn.in_proj_bias": (3 * w,),
                       f"{block}.attn.out_proj.weight": (w, w), f"{block}.attn.out_proj.bias": (w,),
                       f"{block}.mlp.c_fc.weight": (config.mlp_width, w), f"{block}.mlp.c_fc.bias": (config.mlp_width,),
                       f"{block}.mlp.c_proj.weight": (w, config.mlp_width), f"{block}.mlp.c_proj.bias": (w,)})
        for norm in ("ln_1", "ln_2"):
            shapes.update({f"{block}.{norm}.weight": (w,), f"{block}.{norm}.bias": (w,)})
    shapes.update({"ln_final.weight": (w,), "ln_final.bias": (w,), "text_projection": (w, w)})
    return shapes


def checkpoint_shapes() -> Shapes:
    """Key -> shape of the whole tiny checkpoint."""
    clip_l = {k: s for k, s in tiny_sdxl.clip_text_shapes(tiny_sdxl.CLIP_L).items() if k.startswith("text_model.")}
    parts = ((UNET_PREFIX, tiny_sdxl.unet_shapes()), (VAE_PREFIX, tiny_sdxl.vae_shapes()),
             (CLIP_L_PREFIX, clip_l), (CLIP_G_PREFIX, open_clip_text_shapes(tiny_sdxl.CLIP_G)))
    return {prefix + key: shape for prefix, shapes in parts for key, shape in shapes.items()}


def _is_layer_matrix(key: str) -> bool:
    """A text tower's per-layer matrix: written as zeros (a hole in the file)."""
    in_tower = key.startswith((CLIP_L_PREFIX + "text_model.encoder.", CLIP_G_PREFIX + "transformer."))
    return in_tower and not key.endswith("bias") and "norm" not in key and "ln_" not in key


def _values(key: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor | None:
    """The tensor to store, or None for all zeros. Same convention as tiny_sdxl.random_state_dict."""
    if len(shape) == 1:
        return torch.ones(shape, dtype=DTYPE) if key.endswith("weight") else None
    if _is_layer_matrix(key):
        return None
    return (torch.randn(shape, generator=generator) * (shape[1] ** -0.5)).to(DTYPE)


def write_sparse_safetensors(path: Path, shapes: Shapes, seed: int = 0) -> None:
    """Write a .safetensors file whose zero tensors are holes: safetensors.torch.save_file would need all
    2.6 GB in memory and on disk. The format: u64 header size, JSON header (padded to 8 bytes), raw data."""
    itemsize = torch.empty((), dtype=DTYPE).element_size()
    header: dict[str, object] = {}
    offset = 0
    for key, shape in shapes.items():
        size = itemsize * torch.Size(shape).numel()
        header[key] = {"dtype": SAFETENSORS_DTYPE[DTYPE], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header_bytes = json.dumps(header).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)
    start = 8 + len(header_bytes)
    generator = torch.Generator().manual_seed(seed)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)) + header_bytes)
        for key, shape in shapes.items():
            values = _values(key, shape, generator)
            if values is not None:
                f.seek(start + header[key]["data_offsets"][0])
                f.write(values.numpy().tobytes())
        f.truncate(start + offset)
