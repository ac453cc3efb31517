"""open_clip's text transformer blocks (ViT-L-14 and ViT-bigG-14 text towers differ only by config)."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .attention import Activation, InProjAttention, Operations
from .config import TextTowerConfig


class ResidualAttentionBlock(nn.Module):
    def __init__(self, cfg: TextTowerConfig, ops: Operations = nn):
        super().__init__()
        hidden = int(cfg.width * cfg.mlp_ratio)
        self.ln_1 = ops.LayerNorm(cfg.width)
        self.attn = InProjAttention(cfg.width, cfg.heads, ops)
        self.ln_2 = ops.LayerNorm(cfg.width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [("c_fc", ops.Linear(cfg.width, hidden)), ("gelu", Activation(cfg.activation)), ("c_proj", ops.Linear(hidden, cfg.width))]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), is_causal=True)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, cfg: TextTowerConfig, ops: Operations = nn):
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(cfg, ops) for _ in range(cfg.layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x)
        return x
