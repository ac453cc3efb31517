"""The Grounding-DINO-style fuser both encoders use (FaceCLIP-SDXL's branches and FaceT5), but for its image layers.

Both official fusers build the same layer loop with the same parameter names: per layer the image<->text
bi-attention block, the post-norm text self-attention layer and an image layer of the encoder's own
(deformable attention over the face patch map in FaceCLIP-SDXL, FaceT5's single-row attention). Their sizes
come from any config object carrying the fields of `FusionSizes`.
"""
from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from .attention import InProjAttention, Operations, head_scale, like, merge_heads, split_heads
from .layer_init import init_linear


class FusionSizes(Protocol):
    bi_attn_dim: int  # inner width of the image<->text cross-attention
    bi_attn_heads: int
    text_heads: int
    text_ffn_dim: int


class BiAttention(nn.Module):
    """Image tokens attend to text and text tokens attend to image, through one shared logit matrix."""

    def __init__(self, width: int, inner: int, heads: int, ops: Operations = nn):
        super().__init__()
        self.heads = heads
        self.scale = head_scale(inner // heads)
        self.v_proj = ops.Linear(width, inner)
        self.l_proj = ops.Linear(width, inner)
        self.values_v_proj = ops.Linear(width, inner)
        self.values_l_proj = ops.Linear(width, inner)
        self.out_v_proj = ops.Linear(inner, width)
        self.out_l_proj = ops.Linear(inner, width)
        for linear in (self.v_proj, self.l_proj, self.values_v_proj, self.values_l_proj, self.out_v_proj, self.out_l_proj):
            init_linear(linear)

    def forward(self, v: torch.Tensor, l: torch.Tensor, need_v: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
        """v (B, Nv, C) image, l (B, Nl, C) text -> (delta for v or None, delta for l)."""
        q = split_heads(self.v_proj(v) * self.scale, self.heads)
        k = split_heads(self.l_proj(l), self.heads)
        # The reference subtracts a max and clamps logits to +-5e4 before each softmax; softmax is
        # shift-invariant and the clamp only bites where exp() is already 0, so plain softmax is equal.
        logits = (q @ k.transpose(-1, -2)).float()  # (B, H, Nv, Nl)
        values_v = split_heads(self.values_v_proj(v), self.heads)
        delta_l = self.out_l_proj(merge_heads(logits.transpose(-1, -2).softmax(-1).to(v.dtype) @ values_v))
        if not need_v:
            return None, delta_l
        values_l = split_heads(self.values_l_proj(l), self.heads)
        delta_v = self.out_v_proj(merge_heads(logits.softmax(-1).to(v.dtype) @ values_l))
        return delta_v, delta_l


class BiAttentionBlock(nn.Module):
    def __init__(self, width: int, cfg: FusionSizes, ops: Operations = nn, init_gamma: float = 1e-4):
        super().__init__()
        self.layer_norm_v = ops.LayerNorm(width)
        self.layer_norm_l = ops.LayerNorm(width)
        self.attn = BiAttention(width, cfg.bi_attn_dim, cfg.bi_attn_heads, ops)
        self.gamma_v = nn.Parameter(torch.full((width,), init_gamma))
        self.gamma_l = nn.Parameter(torch.full((width,), init_gamma))

    def forward(self, v: torch.Tensor, l: torch.Tensor, need_v: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
        # the residual is taken around the *normalised* inputs, as in the reference
        v, l = self.layer_norm_v(v), self.layer_norm_l(l)
        delta_v, delta_l = self.attn(v, l, need_v)
        return (v + like(self.gamma_v, v) * delta_v if need_v else None), l + like(self.gamma_l, l) * delta_l


class TextEnhancerLayer(nn.Module):
    """Post-norm self-attention over all text tokens (no padding mask) with position on queries/keys."""

    def __init__(self, width: int, cfg: FusionSizes, ops: Operations = nn):
        super().__init__()
        self.self_attn = InProjAttention(width, cfg.text_heads, ops)
        self.linear1 = ops.Linear(width, cfg.text_ffn_dim)
        self.linear2 = ops.Linear(cfg.text_ffn_dim, width)
        self.norm1 = ops.LayerNorm(width)
        self.norm2 = ops.LayerNorm(width)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.self_attn(x, pos=pos))
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))


class FusionEncoder(nn.Module):
    """Per layer: bi-attention, the text layer, then the image layer, called as image_layer(image, *image_args).
    The output is the text stream, so the last layer's image-side updates feed nothing and are skipped."""

    def __init__(self, image_layers: list[nn.Module], width: int, cfg: FusionSizes, ops: Operations = nn):
        super().__init__()
        self.layers = nn.ModuleList(image_layers)
        self.text_layers = nn.ModuleList(TextEnhancerLayer(width, cfg, ops) for _ in image_layers)
        self.fusion_layers = nn.ModuleList(BiAttentionBlock(width, cfg, ops) for _ in image_layers)

    def forward(self, image: torch.Tensor, text: torch.Tensor, text_pos: torch.Tensor, *image_args) -> torch.Tensor:
        """image (N, P, C) face tokens, text (N, T, C), text_pos broadcastable to text -> fused text (N, T, C)."""
        last = len(self.layers) - 1
        for i, (fusion, text_layer, image_layer) in enumerate(zip(self.fusion_layers, self.text_layers, self.layers)):
            image, text = fusion(image, text, need_v=i < last)
            text = text_layer(text, text_pos)
            if i < last:
                image = image_layer(image, *image_args)
        return text


class Fuser(nn.Module):
    """Holds the encoder plus the two-stage head of the reference (`enc_output*`), unused at inference."""

    def __init__(self, image_layers: list[nn.Module], width: int, cfg: FusionSizes, ops: Operations = nn):
        super().__init__()
        self.encoder = FusionEncoder(image_layers, width, cfg, ops)
        self.enc_output = ops.Linear(width, width)
        self.enc_output_norm = ops.LayerNorm(width)

    def forward(self, image: torch.Tensor, text: torch.Tensor, text_pos: torch.Tensor, *image_args) -> torch.Tensor:
        return self.encoder(image, text, text_pos, *image_args)
