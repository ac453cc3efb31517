"""Tiny FaceT5 encoders for tests: the real architecture code at a few MB, written in the release's layout.

`write_tiny_facet5(path)` writes what `face_t5_encoder.pt` is (torch.save of a flat state dict with
the wrapper's key names, 16-bit floats, int64 BatchNorm counters), at reduced widths and depths. The
vocabularies (T5 32128, CLIP 49408) and the sequence lengths (512, 77) stay real, so the real
tokenizers' ids fit; head dim 64 in T5 as in the release.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from faceclip_core.encoders.face_vit import FaceViTConfig
from faceclip_core.encoders.t5.checkpoint import save_facet5
from faceclip_core.encoders.t5.config import ClipTextConfig, FaceT5Config, FusionConfig, T5StackConfig
from faceclip_core.encoders.t5.model import FaceT5Encoder

# size name -> (config part, field)
_SIZES = {
    "d_model": ("t5", "d_model"), "t5_layers": ("t5", "layers"), "t5_heads": ("t5", "heads"), "d_ff": ("t5", "d_ff"),
    "clip_width": ("clip", "width"), "clip_layers": ("clip", "layers"), "clip_ffn": ("clip", "ffn_dim"),
    "face_width": ("face", "width"), "face_layers": ("face", "layers"),
    "fuser_layers": ("fuser", "layers"), "bi_attn_dim": ("fuser", "bi_attn_dim"),
    "text_ffn_dim": ("fuser", "text_ffn_dim"), "image_ffn_dim": ("fuser", "image_ffn_dim"),
}


def tiny_facet5_config(**sizes: int) -> FaceT5Config:
    """The release's layout with cut widths/depths; any of _SIZES' names overrides a default."""
    parts = {
        "clip": ClipTextConfig(width=48, layers=2, heads=12, ffn_dim=96),
        "t5": T5StackConfig(d_model=64, layers=2, heads=2, inner_dim=128, d_ff=96),
        "face": FaceViTConfig(image_size=112, patch_size=9, width=32, layers=2, heads=8, feature_dim=16),
        "fuser": FusionConfig(layers=2, bi_attn_dim=32, text_ffn_dim=32, image_ffn_dim=64),
    }
    for name, value in sizes.items():
        if name not in _SIZES:
            raise TypeError(f"unknown size {name!r}; choose from {sorted(_SIZES)}")
        part, field = _SIZES[name]
        parts[part] = dataclasses.replace(parts[part], **{field: value})
    t5 = parts["t5"]
    parts["t5"] = dataclasses.replace(t5, inner_dim=t5.heads * 64)
    return FaceT5Config(**parts)


def sinusoid_table(length: int, width: int) -> torch.Tensor:
    """(1, length, width): sin on even channels, cos on odd (what the release's positional_embedding holds)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    table = torch.zeros(length, width)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table[None]


def random_facet5_state(config: FaceT5Config, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random weights of a sane scale everywhere (BatchNorm statistics and layer scales included)."""
    with torch.device("meta"):
        names = FaceT5Encoder(config).state_dict()
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, meta in names.items():
        if not meta.is_floating_point():
            state[name] = torch.zeros(meta.shape, dtype=meta.dtype)
        elif name.endswith("positional_embedding"):
            state[name] = sinusoid_table(meta.shape[1], meta.shape[2])
        elif name.endswith("running_var"):
            state[name] = torch.rand(meta.shape, generator=gen) + 0.5
        elif name.endswith(("gamma_v", "gamma_l")):  # 1e-4 at init would hide the fusion
            state[name] = torch.rand(meta.shape, generator=gen) * 0.5 + 0.5
        elif meta.ndim >= 2:
            state[name] = torch.randn(meta.shape, generator=gen) * meta.shape[-1] ** -0.5
        else:
            base = 1.0 if name.endswith("weight") else 0.0
            state[name] = torch.randn(meta.shape, generator=gen) * 0.1 + base
    return state


def write_tiny_facet5(path: str | Path, seed: int = 0, dtype: torch.dtype = torch.bfloat16, **sizes: int) -> Path:
    """A tiny FaceT5 file in the release's layout: `.pt` as torch.save (the release), `.safetensors` via save_facet5."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = random_facet5_state(tiny_facet5_config(**sizes), seed)
    if path.suffix == ".safetensors":
        save_facet5(state, path, dtype)
    else:
        torch.save({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, path)
    return path
