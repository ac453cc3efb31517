"""The face recogniser ViT of each FaceCLIP branch: 144 patch tokens and a 512-d identity feature per face."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import Activation, merge_heads
from .config import FaceViTConfig


class PatchEmbed(nn.Module):
    def __init__(self, cfg: FaceViTConfig):
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class FaceAttention(nn.Module):
    """Fused-qkv self-attention without qkv bias."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class FaceMlp(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = Activation("relu6")
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class FaceBlock(nn.Module):
    def __init__(self, cfg: FaceViTConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.width)
        self.norm2 = nn.LayerNorm(cfg.width)
        self.attn = FaceAttention(cfg.width, cfg.heads)
        self.mlp = FaceMlp(cfg.width, int(cfg.width * cfg.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class FaceViT(nn.Module):
    """Pre-norm ViT without class token; a BatchNorm head on the flattened tokens gives the identity feature."""

    def __init__(self, cfg: FaceViTConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches, cfg.width))
        # only used by masked-patch training; kept so the checkpoint loads strictly
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.blocks = nn.ModuleList(FaceBlock(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width)
        self.feature = nn.Sequential(
            nn.Linear(cfg.width * cfg.num_patches, cfg.width, bias=False),
            nn.BatchNorm1d(cfg.width, eps=cfg.feature_bn_eps),
            nn.Linear(cfg.width, cfg.feature_dim, bias=False),
            nn.BatchNorm1d(cfg.feature_dim, eps=cfg.feature_bn_eps),
        )
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, 3, H, W) RGB in [0, 1], any size -> (patch tokens (B, P, width), identity (B, feature_dim)).

        The crop is resized to the ViT's input size as the official pipeline does (bilinear, no antialias)
        and is not mean/std normalised.
        """
        size = self.cfg.image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        x = self.patch_embed(images) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        tokens = self.norm(x)
        return tokens, self.feature(tokens.flatten(1))
