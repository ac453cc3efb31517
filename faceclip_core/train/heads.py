"""Training-only heads that read the fused text stream (N, 77, w); not part of the released encoder, dropped at export."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PooledHead(nn.Module):
    """Pool the fused tokens, then one Linear, then L2 norm.

    "flatten" is the official code's TextProjection/IdentityProjection (one Linear over all 77*w values);
    "end" reads the end-token state, "mean" the mean over tokens.
    """

    def __init__(self, width: int, context_length: int, out_dim: int, pooling: str = "flatten"):
        super().__init__()
        self.pooling = pooling
        self.proj = nn.Linear(width * context_length if pooling == "flatten" else width, out_dim)

    def forward(self, fused: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        if self.pooling == "flatten":
            pooled = fused.flatten(1)
        elif self.pooling == "end":
            pooled = fused[torch.arange(len(ids), device=ids.device), ids.argmax(dim=-1)]
        else:
            pooled = fused.mean(dim=1)
        return F.normalize(self.proj(pooled), dim=-1)
