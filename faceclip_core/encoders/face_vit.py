"""The face recogniser ViT of the release's encoders (FaceCLIP-SDXL branches, FaceT5): 144 patch tokens and a 512-d identity feature per face."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .attention import Activation, Operations, like, merge_heads
from .precision import SIXTEEN_BIT, run_in


@dataclass(frozen=True)
class FaceViTConfig:
    """The face recogniser ViT of each branch (pre-norm blocks, no class token, BatchNorm feature head)."""

    image_size: int = 112
    patch_size: int = 9
    width: int = 768
    layers: int = 24
    heads: int = 8
    mlp_ratio: float = 4.0
    feature_dim: int = 512  # the identity feature
    feature_bn_eps: float = 2e-5

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2


class PatchEmbed(nn.Module):
    def __init__(self, cfg: FaceViTConfig, ops: Operations = nn):
        super().__init__()
        self.proj = ops.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class FaceAttention(nn.Module):
    """Fused-qkv self-attention without qkv bias."""

    def __init__(self, width: int, heads: int, ops: Operations = nn):
        super().__init__()
        self.heads = heads
        self.qkv = ops.Linear(width, 3 * width, bias=False)
        self.proj = ops.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class FaceMlp(nn.Module):
    def __init__(self, width: int, hidden: int, ops: Operations = nn):
        super().__init__()
        self.fc1 = ops.Linear(width, hidden)
        self.act = Activation("relu6")
        self.fc2 = ops.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class FaceBlock(nn.Module):
    def __init__(self, cfg: FaceViTConfig, ops: Operations = nn):
        super().__init__()
        self.norm1 = ops.LayerNorm(cfg.width)
        self.norm2 = ops.LayerNorm(cfg.width)
        self.attn = FaceAttention(cfg.width, cfg.heads, ops)
        self.mlp = FaceMlp(cfg.width, int(cfg.width * cfg.mlp_ratio), ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def forward_official_16_bit(self, x: torch.Tensor) -> torch.Tensor:
        """The block as the official code computes it in 16 bits on CUDA (its nested fp16 autocast regions):
        residual stream and norms in fp32, q/k/v and output projections and the MLP in fp16, attention in fp32."""
        b, t, c = x.shape
        qkv = run_in(torch.float16, self.attn.qkv, run_in(torch.float32, self.norm1, x))
        q, k, v = qkv.view(b, t, 3, self.attn.heads, c // self.attn.heads).permute(2, 0, 3, 1, 4).float()
        x = x + run_in(torch.float16, self.attn.proj, merge_heads(F.scaled_dot_product_attention(q, k, v)))
        return x + run_in(torch.float16, self.mlp, run_in(torch.float32, self.norm2, x))


class BatchNorm1d(nn.BatchNorm1d):
    """In eval mode, statistics and affine parameters follow the input's device and dtype (see `like`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        return F.batch_norm(
            x, like(self.running_mean, x), like(self.running_var, x), like(self.weight, x), like(self.bias, x),
            training=False, eps=self.eps,
        )


class FaceViT(nn.Module):
    """Pre-norm ViT without class token; a BatchNorm head on the flattened tokens gives the identity feature."""

    def __init__(self, cfg: FaceViTConfig, ops: Operations = nn, official_16_bit: bool = True):
        """official_16_bit: with 16-bit inputs, compute as the official code does in 16 bits on CUDA (fp32
        residual stream and norms, fp16 projections and MLP, see FaceBlock.forward_official_16_bit), on any
        device; False computes everything in the input's dtype. fp32 inputs are unaffected either way."""
        super().__init__()
        self.cfg = cfg
        self.official_16_bit = official_16_bit
        self.patch_embed = PatchEmbed(cfg, ops)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches, cfg.width))
        # only used by masked-patch training; kept so the checkpoint loads strictly
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.blocks = nn.ModuleList(FaceBlock(cfg, ops) for _ in range(cfg.layers))
        self.norm = ops.LayerNorm(cfg.width)
        self.feature = nn.Sequential(
            ops.Linear(cfg.width * cfg.num_patches, cfg.width, bias=False),
            BatchNorm1d(cfg.width, eps=cfg.feature_bn_eps),
            ops.Linear(cfg.width, cfg.feature_dim, bias=False),
            BatchNorm1d(cfg.feature_dim, eps=cfg.feature_bn_eps),
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
        x = self.patch_embed(images)
        if self.official_16_bit and x.dtype in SIXTEEN_BIT:
            # the official adds its fp32 position embedding to the 16-bit patches: the stream is fp32 from here
            x = x.float() + self.pos_embed.to(x.device, torch.float32)
            for block in self.blocks:
                x = block.forward_official_16_bit(x)
            tokens = run_in(torch.float32, self.norm, x).to(images.dtype)
        else:
            x = x + like(self.pos_embed, x)
            for block in self.blocks:
                x = block(x)
            tokens = self.norm(x)
        return tokens, self.feature(tokens.flatten(1))
