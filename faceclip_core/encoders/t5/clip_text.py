"""CLIP-L's text model in transformers' CLIPTextModel key layout; FaceT5 uses only its pooled output."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import Operations, merge_heads, quick_gelu, split_heads
from .config import ClipTextConfig


class ClipAttention(nn.Module):
    def __init__(self, cfg: ClipTextConfig, ops: Operations = nn):
        super().__init__()
        self.heads = cfg.heads
        self.q_proj = ops.Linear(cfg.width, cfg.width)
        self.k_proj = ops.Linear(cfg.width, cfg.width)
        self.v_proj = ops.Linear(cfg.width, cfg.width)
        self.out_proj = ops.Linear(cfg.width, cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (split_heads(proj(x), self.heads) for proj in (self.q_proj, self.k_proj, self.v_proj))
        return self.out_proj(merge_heads(F.scaled_dot_product_attention(q, k, v, is_causal=True)))


class ClipMlp(nn.Module):
    def __init__(self, cfg: ClipTextConfig, ops: Operations = nn):
        super().__init__()
        self.fc1 = ops.Linear(cfg.width, cfg.ffn_dim)
        self.fc2 = ops.Linear(cfg.ffn_dim, cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(quick_gelu(self.fc1(x)))


class ClipLayer(nn.Module):
    def __init__(self, cfg: ClipTextConfig, ops: Operations = nn):
        super().__init__()
        self.self_attn = ClipAttention(cfg, ops)
        self.layer_norm1 = ops.LayerNorm(cfg.width)
        self.mlp = ClipMlp(cfg, ops)
        self.layer_norm2 = ops.LayerNorm(cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class ClipEmbeddings(nn.Module):
    def __init__(self, cfg: ClipTextConfig, ops: Operations = nn):
        super().__init__()
        self.token_embedding = ops.Embedding(cfg.vocab_size, cfg.width)
        self.position_embedding = ops.Embedding(cfg.positions, cfg.width)

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        return self.token_embedding(ids).to(dtype) + self.position_embedding(positions).to(dtype)


class ClipEncoder(nn.Module):
    def __init__(self, cfg: ClipTextConfig, ops: Operations = nn):
        super().__init__()
        self.layers = nn.ModuleList(ClipLayer(cfg, ops) for _ in range(cfg.layers))


class ClipTextTransformer(nn.Module):
    def __init__(self, cfg: ClipTextConfig, ops: Operations = nn):
        super().__init__()
        self.embeddings = ClipEmbeddings(cfg, ops)
        self.encoder = ClipEncoder(cfg, ops)
        self.final_layer_norm = ops.LayerNorm(cfg.width)

    def forward(self, ids: torch.Tensor, end_id: int, dtype: torch.dtype) -> torch.Tensor:
        """Token ids (N, T) -> pooled (N, width): the final state at each row's first end token."""
        x = self.embeddings(ids, dtype)
        for layer in self.encoder.layers:
            x = layer(x)
        x = self.final_layer_norm(x)
        first_end = (ids == end_id).int().argmax(dim=-1)
        return x[torch.arange(len(ids), device=ids.device), first_end]


class ClipTextModel(nn.Module):
    """Holds `text_model` as transformers' CLIPTextModel does, so the keys read `text_model.…`."""

    def __init__(self, cfg: ClipTextConfig, ops: Operations = nn):
        super().__init__()
        self.text_model = ClipTextTransformer(cfg, ops)

    def forward(self, ids: torch.Tensor, end_id: int, dtype: torch.dtype) -> torch.Tensor:
        return self.text_model(ids, end_id, dtype)
