"""open_clip's transformer blocks (ViT-L-14 and ViT-bigG-14 text towers differ only by config; training's
frozen CLIP image towers reuse them without the causal mask)."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..attention import Activation, InProjAttention, Operations
from .config import TextTowerConfig


class ResidualAttentionBlock(nn.Module):
    def __init__(self, cfg: TextTowerConfig, ops: Operations = nn, causal: bool = True):
        super().__init__()
        self.causal = causal
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
        x = x + self.attn(self.ln_1(x), is_causal=self.causal)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, cfg: TextTowerConfig, ops: Operations = nn, causal: bool = True):
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(cfg, ops, causal) for _ in range(cfg.layers))
        # set by training: stage 1 back-propagates through the frozen tower to the identity token
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x
