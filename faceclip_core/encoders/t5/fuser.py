"""FaceT5's fuser: T5 text tokens and face patch tokens through per-layer bi-attention, text and image layers.

Follows the official TextFaceEmbeddingFuser as it runs in the release's pipeline:
- the image layers' `nn.MultiheadAttention` is sequence-first but receives batch-first face tokens, so
  it attends over the batch axis; the official pipeline calls it with one face and one prompt, where
  that attention is `out_proj(v_proj(x))` per token. Every row gets exactly that value here, so a
  batch of prompts equals the same prompts encoded one by one;
- the face position embedding reaches the image layers in the mask slot and is ignored, so it is not
  computed (`face_pos_proj` is loaded and kept, and has no effect);
- the output is the text stream after the last text layer: the last image layer feeds nothing.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import Operations, like
from ..fusion_blocks import Fuser
from .config import FusionConfig


class SingleRowSelfAttention(nn.Module):
    """nn.MultiheadAttention's parameters; attention over a length-1 sequence returns its own value."""

    def __init__(self, width: int, ops: Operations = nn):
        super().__init__()
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.out_proj = ops.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[-1]
        value = F.linear(x, like(self.in_proj_weight[2 * width :], x), like(self.in_proj_bias[2 * width :], x))
        return self.out_proj(value)


class ImageLayer(nn.Module):
    """Post-norm encoder layer over the face tokens (see the module note on its attention)."""

    def __init__(self, width: int, cfg: FusionConfig, ops: Operations = nn):
        super().__init__()
        self.self_attn = SingleRowSelfAttention(width, ops)
        self.linear1 = ops.Linear(width, cfg.image_ffn_dim)
        self.linear2 = ops.Linear(cfg.image_ffn_dim, width)
        self.norm1 = ops.LayerNorm(width)
        self.norm2 = ops.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.self_attn(x))
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))


def build_fuser(width: int, cfg: FusionConfig, ops: Operations = nn) -> Fuser:
    """FaceT5's fuser: its image layers are the single-row attention described above."""
    return Fuser([ImageLayer(width, cfg, ops) for _ in range(cfg.layers)], width, cfg, ops)
