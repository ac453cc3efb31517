"""Multi-head attention with torch.nn.MultiheadAttention's parameter names, computed by scaled_dot_product_attention.

The checkpoint stores `in_proj_weight`/`in_proj_bias`/`out_proj` (nn.MultiheadAttention's layout). Keeping the
names but calling SDPA directly lets one module serve batch-first self-attention, causal attention and
attention whose queries/keys carry a position embedding that the values do not.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .layer_init import init_linear

Operations = Any  # a namespace with Linear, LayerNorm, Conv2d, Embedding: torch.nn, or a host's casting layers


def like(param: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A parameter held directly by a module, on x's device and dtype (a no-op when it already is).

    Hosts that stream weights (ComfyUI's low-VRAM mode) move leaf layers only, so the few parameters
    that are not inside a Linear/LayerNorm/... are brought to the input at their use.
    """
    return param.to(device=x.device, dtype=x.dtype)


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, H*D) -> (B, H, T, D)."""
    b, t, _ = x.shape
    return x.view(b, t, heads, -1).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, D) -> (B, T, H*D)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


class InProjAttention(nn.Module):
    def __init__(self, width: int, heads: int, ops: Operations = nn):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.out_proj = ops.Linear(width, width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        init_linear(self.out_proj, weight=None)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        """Self-attention over x (B, T, C); `pos` is added to queries and keys only (DETR convention)."""
        weight, bias = like(self.in_proj_weight, x), like(self.in_proj_bias, x)
        if pos is None:
            q, k, v = F.linear(x, weight, bias).chunk(3, dim=-1)
        else:
            width = x.shape[-1]
            q, k = F.linear(x + pos, weight[: 2 * width], bias[: 2 * width]).chunk(2, dim=-1)
            v = F.linear(x, weight[2 * width :], bias[2 * width :])
        out = F.scaled_dot_product_attention(
            split_heads(q, self.heads), split_heads(k, self.heads), split_heads(v, self.heads), is_causal=is_causal
        )
        return self.out_proj(merge_heads(out))


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


ACTIVATIONS = {"quick_gelu": quick_gelu, "gelu": F.gelu, "relu": F.relu, "relu6": F.relu6}


class Activation(nn.Module):
    """A parameter-free activation chosen by name, so configs can carry it as a string."""

    def __init__(self, name: str):
        super().__init__()
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
        self.name = name
        self.fn = ACTIVATIONS[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


def head_scale(head_dim: int) -> float:
    return 1.0 / math.sqrt(head_dim)
