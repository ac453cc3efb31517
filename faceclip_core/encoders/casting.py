"""Layers that hold their weights in one dtype (e.g. float8_e4m3fn) and compute in the input's dtype.

The `ops` seam's stand-in for ComfyUI's `comfy.ops.manual_cast` when no host is there (CLI, tests):
each layer casts its weight to the input's dtype and device at use, one layer at a time.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import like


def _maybe(param: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    return None if param is None else like(param, x)


class Linear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, like(self.weight, x), _maybe(self.bias, x))


class LayerNorm(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.normalized_shape, _maybe(self.weight, x), _maybe(self.bias, x), self.eps)


class Conv2d(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, like(self.weight, x), _maybe(self.bias, x))


class Embedding(nn.Embedding):
    """Rows are gathered in the stored dtype and returned as float32 (callers cast to their compute dtype)."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight).float()
