"""ID-Enhancer: the ArcFace embedding, read through the textual ID anchor, as identity tokens in text space."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import CrossAttention
from .config import IDEAConfig


class IDEnhancer(nn.Module):
    """face (B, face_dim) + textual ID anchor (N, context_dim) -> identity tokens (B, num_tokens, context_dim).

    The face feature is projected to num_tokens queries that attend over the anchor's rows: as in the authors'
    code, the cross-initialised anchor (N = num_tokens), the point of the text space where the names' statistics
    put an identity (see docs/id-ea.md for why not over every name). Files trained before that hold one row per
    name, and attend over those.
    """

    def __init__(self, config: IDEAConfig, operations=nn):
        super().__init__()
        self.num_tokens = config.num_tokens
        self.proj = operations.Linear(config.face_dim, config.num_tokens * config.context_dim)
        self.norm = operations.LayerNorm(config.context_dim)
        self.attn = CrossAttention(config.context_dim, config.context_dim, config.inner_dim, config.context_dim, config.heads, operations)

    def forward(self, face: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        face = F.normalize(face.float(), dim=-1).to(self.proj.weight.dtype)
        queries = self.norm(self.proj(face).view(face.shape[0], self.num_tokens, -1))
        bank = anchors.to(queries.dtype).unsqueeze(0).expand(face.shape[0], -1, -1)
        return queries + self.attn(queries, bank)
