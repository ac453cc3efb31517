"""Multi-head attention with separate query and key/value inputs, shared by the ID-Enhancer and the ID-Adapter."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.attention import merge_heads, split_heads


class CrossAttention(nn.Module):
    """Queries of width query_dim attend over keys/values of width kv_dim; output of width out_dim.

    operations: the layer set (default torch.nn); the host can pass its own (e.g. manual casting).
    """

    def __init__(self, query_dim: int, kv_dim: int, inner_dim: int, out_dim: int, heads: int, operations=nn):
        super().__init__()
        if inner_dim % heads:
            raise ValueError(f"inner_dim {inner_dim} is not divisible by {heads} heads")
        self.heads = heads
        self.to_q = operations.Linear(query_dim, inner_dim, bias=False)
        self.to_k = operations.Linear(kv_dim, inner_dim, bias=False)
        self.to_v = operations.Linear(kv_dim, inner_dim, bias=False)
        self.to_out = operations.Linear(inner_dim, out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """As torch.nn.MultiheadAttention, the layer of the authors' enhancer and adapter: one Xavier draw over the
        stacked q/k/v projections, zero output bias (the output weight keeps Linear's default)."""
        if self.to_q.weight.is_meta:
            return
        packed = torch.empty(3 * self.to_q.out_features, self.to_q.in_features)
        nn.init.xavier_uniform_(packed)
        q, k, v = packed.chunk(3)
        if self.to_k.in_features != self.to_q.in_features:  # keys/values of another width: their own draw
            k, v = (nn.init.xavier_uniform_(torch.empty_like(w)) for w in (self.to_k.weight, self.to_v.weight))
        with torch.no_grad():
            for layer, value in ((self.to_q, q), (self.to_k, k), (self.to_v, v)):
                layer.weight.copy_(value)
            self.to_out.bias.zero_()

    def forward(self, queries: torch.Tensor, keys_values: torch.Tensor) -> torch.Tensor:
        """queries (B, Tq, query_dim), keys_values (B, Tk, kv_dim) -> (B, Tq, out_dim)."""
        q, k, v = (split_heads(x, self.heads) for x in (self.to_q(queries), self.to_k(keys_values), self.to_v(keys_values)))
        return self.to_out(merge_heads(F.scaled_dot_product_attention(q, k, v)))
