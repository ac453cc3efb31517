"""Deformable self-attention (Deformable DETR) over one square feature map, in plain PyTorch.

Each query predicts, per head, a few sampling offsets around its reference point and a softmax weight
per sample; values are read with bilinear `grid_sample` (zero padding outside the map). One level only:
the face ViT gives a single 12x12 map, so the multi-scale bookkeeping of the original reduces away.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import Operations
from ..layer_init import init_linear


def reference_points(grid: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(grid*grid, 2) normalised (x, y) pixel centres in row-major order."""
    centres = (torch.arange(grid, device=device, dtype=torch.float32) + 0.5) / grid
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack((x.reshape(-1), y.reshape(-1)), dim=-1).to(dtype)


class DeformableAttention(nn.Module):
    def __init__(self, width: int, heads: int, points: int, levels: int = 1, ops: Operations = nn):
        super().__init__()
        if levels != 1:
            raise ValueError("only single-level deformable attention is implemented")
        self.heads, self.points = heads, points
        self.sampling_offsets = ops.Linear(width, heads * levels * points * 2)
        self.attention_weights = ops.Linear(width, heads * levels * points)
        self.value_proj = ops.Linear(width, width)
        self.output_proj = ops.Linear(width, width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Deformable DETR's start: offsets fan out in a ring per head, uniform weights over the samples
        angles = torch.arange(self.heads, dtype=torch.float32) * (2.0 * math.pi / self.heads)
        ring = torch.stack([angles.cos(), angles.sin()], -1)
        ring = ring / ring.abs().max(-1, keepdim=True).values
        ring = ring[:, None, :].repeat(1, self.points, 1) * torch.arange(1, self.points + 1, dtype=torch.float32)[:, None]
        init_linear(self.sampling_offsets, nn.init.zeros_, lambda bias: bias.copy_(ring.flatten()))
        init_linear(self.attention_weights, nn.init.zeros_)
        init_linear(self.value_proj)
        init_linear(self.output_proj)

    def forward(self, query: torch.Tensor, value: torch.Tensor, grid: int) -> torch.Tensor:
        """query, value: (B, grid*grid, C) -> (B, grid*grid, C)."""
        b, n, c = value.shape
        h, p = self.heads, self.points
        # (B*H, C/H, grid, grid): each head samples its own slice of channels
        value_map = self.value_proj(value).view(b, n, h, c // h).permute(0, 2, 3, 1).reshape(b * h, c // h, grid, grid)
        offsets = self.sampling_offsets(query).view(b, n, h, p, 2)
        weights = self.attention_weights(query).view(b, n, h, p).softmax(-1)
        # Offsets are in pixels of the map; grid_sample wants [-1, 1] coordinates. Sampling runs in fp32:
        # 16-bit coordinates are off by up to ~0.05 px, and CPU grid_sample gives NaN for bf16 inputs.
        locations = reference_points(grid, query.device, torch.float32)[None, :, None, None, :] + offsets.float() / grid
        sample_grid = (2 * locations - 1).permute(0, 2, 1, 3, 4).reshape(b * h, n, p, 2)
        samples = F.grid_sample(value_map.float(), sample_grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        samples = samples.to(value.dtype)
        # samples (B*H, C/H, N, P) weighted over P
        out = torch.einsum("zcnp,znp->znc", samples, weights.permute(0, 2, 1, 3).reshape(b * h, n, p))
        return self.output_proj(out.view(b, h, n, c // h).permute(0, 2, 1, 3).reshape(b, n, c))
