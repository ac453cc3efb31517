"""The frozen CLIP image tower that gives stage 1's image target: open_clip's VisionTransformer, loaded from a local file.

Built from the package's own transformer blocks (no open_clip, which would drag in torchvision); the
module names are open_clip's `visual.*` keys, so an open_clip checkpoint loads strictly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.sdxl.config import TextTowerConfig
from ..errors import CheckpointError
from ..files.weights import read_checkpoint
from .config import run_file_advice
from ..encoders.sdxl.text_tower import Transformer

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PREFIX = "visual."


@dataclass(frozen=True)
class VisionTowerConfig:
    image_size: int = 224
    patch_size: int = 14
    width: int = 1024
    layers: int = 24
    heads: int = 16
    mlp_ratio: float = 4.0
    output_dim: int = 768
    activation: str = "quick_gelu"


VISION_ARCHS = {
    "ViT-L-14": VisionTowerConfig(activation="gelu"),
    "ViT-L-14-quickgelu": VisionTowerConfig(),
    "ViT-bigG-14": VisionTowerConfig(width=1664, layers=48, heads=16, mlp_ratio=4.9231, output_dim=1280, activation="gelu"),
    # tests: output widths match tiny_config()'s L (32) and G (48) branches
    "tiny-l": VisionTowerConfig(image_size=28, patch_size=7, width=32, layers=2, heads=2, output_dim=32),
    "tiny-g": VisionTowerConfig(image_size=28, patch_size=7, width=32, layers=2, heads=2, output_dim=48, activation="gelu"),
}


class VisionTower(nn.Module):
    def __init__(self, cfg: VisionTowerConfig):
        super().__init__()
        self.cfg = cfg
        grid = cfg.image_size // cfg.patch_size
        self.conv1 = nn.Conv2d(3, cfg.width, cfg.patch_size, cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(cfg.width) * cfg.width**-0.5)
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, cfg.width) * cfg.width**-0.5)
        self.ln_pre = nn.LayerNorm(cfg.width)
        blocks = TextTowerConfig(width=cfg.width, layers=cfg.layers, heads=cfg.heads, mlp_ratio=cfg.mlp_ratio, activation=cfg.activation)
        self.transformer = Transformer(blocks, causal=False)
        self.ln_post = nn.LayerNorm(cfg.width)
        self.proj = nn.Parameter(torch.randn(cfg.width, cfg.output_dim) * cfg.width**-0.5)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """CLIP-normalised pixels (N, 3, S, S) -> L2-normalised image embeddings (N, output_dim)."""
        x = self.conv1(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(len(x), 1, -1), x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return F.normalize(self.ln_post(x[:, 0]) @ self.proj, dim=-1)


def resize_center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) float -> (N, 3, size, size): shorter side resized to `size` (bicubic, antialiased), centre crop."""
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    scale = size / min(h, w)
    resized = F.interpolate(images, size=(max(size, round(h * scale)), max(size, round(w * scale))), mode="bicubic",
                            align_corners=False, antialias=True)
    top, left = (resized.shape[-2] - size) // 2, (resized.shape[-1] - size) // 2
    return resized[..., top : top + size, left : left + size]


def clip_pixels(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> the CLIP image tower's input (resized, centre-cropped, mean/std normalised)."""
    crop = resize_center_crop(images, size).clamp(0, 1)
    mean = torch.tensor(CLIP_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=images.device).view(1, 3, 1, 1)
    return (crop - mean) / std


def load_vision_tower(path: str | os.PathLike, arch: str) -> VisionTower:
    """The `visual.*` tensors of an open_clip checkpoint (.bin/.pt/.safetensors) as a frozen VisionTower."""
    if arch not in VISION_ARCHS:
        raise CheckpointError(f"Unknown image tower architecture {arch!r}; choose one of {', '.join(VISION_ARCHS)}.")
    raw, _ = read_checkpoint(path, run_file_advice("an open_clip CLIP checkpoint", "model.image_tower_l/_g"))
    state = {k[len(PREFIX):]: v.float() for k, v in raw.items() if k.startswith(PREFIX)}
    if not state:
        raise CheckpointError(f"{path} has no '{PREFIX}*' tensors: it is not an open_clip CLIP checkpoint with an image tower.")
    tower = VisionTower(VISION_ARCHS[arch])
    try:
        tower.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not match image tower architecture {arch!r}: {str(exc).splitlines()[0]}. "
                              "Set [model].image_arch_l/image_arch_g to the file's architecture.") from exc
    return tower.eval().requires_grad_(False)
