"""The fuser of a FaceCLIP branch: a Grounding-DINO feature enhancer over face patches and text tokens.

Each layer runs (1) bi-directional image<->text cross-attention, (2) text self-attention (the text
enhancer), (3) deformable self-attention over the face patch map (here; the loop: fusion_blocks.Fuser).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import Operations
from ..fusion_blocks import Fuser
from .config import FusionConfig
from .deformable_attention import DeformableAttention


class DeformableEncoderLayer(nn.Module):
    """Post-norm deformable self-attention over the face patch map, then an FFN."""

    def __init__(self, width: int, cfg: FusionConfig, ops: Operations = nn):
        super().__init__()
        self.self_attn = DeformableAttention(width, cfg.deform_heads, cfg.deform_points, ops=ops)
        self.norm1 = ops.LayerNorm(width)
        self.linear1 = ops.Linear(width, cfg.deform_ffn_dim)
        self.linear2 = ops.Linear(cfg.deform_ffn_dim, width)
        self.norm2 = ops.LayerNorm(width)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, grid: int) -> torch.Tensor:
        x = self.norm1(x + self.self_attn(x + pos, x, grid))
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))


def build_fuser(width: int, cfg: FusionConfig, ops: Operations = nn) -> Fuser:
    """The branch's fuser: its image layers are deformable attention over the face patch map."""
    return Fuser([DeformableEncoderLayer(width, cfg, ops) for _ in range(cfg.layers)], width, cfg, ops)
