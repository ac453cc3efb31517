"""The fusion encoder of a FaceCLIP branch: a Grounding-DINO feature enhancer over face patches and text tokens.

Each layer runs (1) bi-directional image<->text cross-attention, (2) text self-attention (the text
enhancer), (3) deformable self-attention over the face patch map. The branch output is the text stream,
so the last layer's image-side updates feed nothing and are skipped.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import Operations
from ..fusion_blocks import BiAttentionBlock, TextEnhancerLayer
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


class FusionEncoder(nn.Module):
    def __init__(self, width: int, cfg: FusionConfig, ops: Operations = nn):
        super().__init__()
        self.layers = nn.ModuleList(DeformableEncoderLayer(width, cfg, ops) for _ in range(cfg.layers))
        self.text_layers = nn.ModuleList(TextEnhancerLayer(width, cfg, ops) for _ in range(cfg.layers))
        self.fusion_layers = nn.ModuleList(BiAttentionBlock(width, cfg, ops) for _ in range(cfg.layers))

    def forward(
        self, image: torch.Tensor, image_pos: torch.Tensor, text: torch.Tensor, text_pos: torch.Tensor, grid: int
    ) -> torch.Tensor:
        """image (B, grid*grid, C), text (B, T, C), positions broadcastable to them -> fused text (B, T, C)."""
        last = len(self.layers) - 1
        for i, (fusion, text_layer, image_layer) in enumerate(zip(self.fusion_layers, self.text_layers, self.layers)):
            image, text = fusion(image, text, need_v=i < last)
            text = text_layer(text, text_pos)
            if i < last:
                image = image_layer(image, image_pos, grid)
        return text


class Fuser(nn.Module):
    """Holds the encoder plus the two-stage head of the reference (`enc_output*`), unused at inference."""

    def __init__(self, width: int, cfg: FusionConfig, ops: Operations = nn):
        super().__init__()
        self.encoder = FusionEncoder(width, cfg, ops)
        self.enc_output = ops.Linear(width, width)
        self.enc_output_norm = ops.LayerNorm(width)

    def forward(
        self, image: torch.Tensor, image_pos: torch.Tensor, text: torch.Tensor, text_pos: torch.Tensor, grid: int
    ) -> torch.Tensor:
        return self.encoder(image, image_pos, text, text_pos, grid)
