"""T5-v1.1's encoder stack under the release's flash-T5 key names, in plain PyTorch (SDPA, no Triton).

Computes what the official FlashT5Stack computes with `attention_scale: 1.0`: no 1/sqrt(d) scaling,
no attention mask (padding is attended), the relative position bias of block 0 added in every block,
gated tanh-GELU FFN, RMSNorm in float32.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import Operations, like, merge_heads, split_heads
from .config import T5StackConfig


class RMSNorm(nn.Module):
    """T5's LayerNorm: scale only, no mean subtraction; the variance is taken in float32."""

    def __init__(self, width: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.float().pow(2).mean(-1, keepdim=True)
        return like(self.weight, x) * (x * torch.rsqrt(variance + self.eps)).to(x.dtype)


def relative_position_buckets(length: int, num_buckets: int, max_distance: int, device: torch.device) -> torch.Tensor:
    """(length, length) bucket of key position minus query position, bidirectional (T5's encoder)."""
    position = torch.arange(length, device=device)
    relative = position[None, :] - position[:, None]
    half = num_buckets // 2
    buckets = (relative > 0).long() * half
    distance = relative.abs()
    exact = half // 2
    # distances past `exact` share log-spaced buckets up to max_distance (float32 logs, as the reference)
    log_bucket = exact + (
        torch.log(distance.float().clamp(min=1) / exact) / torch.log(torch.tensor(max_distance / exact)) * (half - exact)
    ).long()
    log_bucket = log_bucket.clamp(max=half - 1)
    return buckets + torch.where(distance < exact, distance, log_bucket)


class RelativePositionBias(nn.Module):
    def __init__(self, cfg: T5StackConfig, ops: Operations = nn):
        super().__init__()
        self.cfg = cfg
        self.relative_attention_bias = ops.Embedding(cfg.num_buckets, cfg.heads)

    def forward(self, length: int, like_x: torch.Tensor) -> torch.Tensor:
        """(1, heads, length, length) additive attention bias in like_x's dtype."""
        buckets = relative_position_buckets(length, self.cfg.num_buckets, self.cfg.max_distance, like_x.device)
        return self.relative_attention_bias(buckets).permute(2, 0, 1)[None].to(like_x.dtype)


class T5Attention(nn.Module):
    def __init__(self, cfg: T5StackConfig, has_bias: bool, ops: Operations = nn):
        super().__init__()
        self.heads = cfg.heads
        self.Wq = ops.Linear(cfg.d_model, cfg.inner_dim, bias=False)
        self.Wk = ops.Linear(cfg.d_model, cfg.inner_dim, bias=False)
        self.Wv = ops.Linear(cfg.d_model, cfg.inner_dim, bias=False)
        self.o = ops.Linear(cfg.inner_dim, cfg.d_model, bias=False)
        if has_bias:
            self.pe_encoding = RelativePositionBias(cfg, ops)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        q, k, v = (split_heads(proj(x), self.heads) for proj in (self.Wq, self.Wk, self.Wv))
        return self.o(merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)))


class SelfAttentionLayer(nn.Module):
    def __init__(self, cfg: T5StackConfig, has_bias: bool, ops: Operations = nn):
        super().__init__()
        self.self_attention = T5Attention(cfg, has_bias, ops)
        self.layer_norm = RMSNorm(cfg.d_model, cfg.eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return x + self.self_attention(self.layer_norm(x), bias)


class GatedGelu(nn.Module):
    def __init__(self, cfg: T5StackConfig, ops: Operations = nn):
        super().__init__()
        self.wi_0 = ops.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.wi_1 = ops.Linear(cfg.d_model, cfg.d_ff, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.wi_0(x), approximate="tanh") * self.wi_1(x)


class FeedForwardLayer(nn.Module):
    def __init__(self, cfg: T5StackConfig, ops: Operations = nn):
        super().__init__()
        self.act = GatedGelu(cfg, ops)
        self.layer_norm = RMSNorm(cfg.d_model, cfg.eps)
        self.wo = ops.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.wo(self.act(self.layer_norm(x)))


class T5Block(nn.Module):
    def __init__(self, cfg: T5StackConfig, has_bias: bool, ops: Operations = nn):
        super().__init__()
        self.self_attention_layer = SelfAttentionLayer(cfg, has_bias, ops)
        self.ff_layer = FeedForwardLayer(cfg, ops)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return _fp16_safe(self.ff_layer(_fp16_safe(self.self_attention_layer(x, bias))))


def _fp16_safe(x: torch.Tensor) -> torch.Tensor:
    """T5-v1.1's residual stream outgrows float16 (the official code runs bf16); clamp it below inf, as
    transformers' T5 does in float16. No effect in float32/bfloat16."""
    if x.dtype != torch.float16:
        return x
    limit = torch.finfo(torch.float16).max - 1000
    return x.clamp(-limit, limit)


class T5Stack(nn.Module):
    def __init__(self, cfg: T5StackConfig, ops: Operations = nn):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = ops.Embedding(cfg.vocab_size, cfg.d_model)
        self.block = nn.ModuleList(T5Block(cfg, i == 0, ops) for i in range(cfg.layers))
        self.final_layer_norm = RMSNorm(cfg.d_model, cfg.eps)

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Token ids (N, T) -> hidden states (N, T, d_model) in `dtype`."""
        x = self.embed_tokens(ids).to(dtype)
        bias = self.block[0].self_attention_layer.self_attention.pe_encoding(ids.shape[1], x)
        for block in self.block:
            x = block(x, bias)
        return self.final_layer_norm(x)
