"""Initial values of layers for training from scratch (loaders overwrite every one of them).

A host may create its layers empty: ComfyUI with dynamic VRAM (0.38.x) makes comfy.ops Linear with weight and
bias None and fills them only in load_state_dict. Such a layer is left as it is: its values come from the file.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

Init = Callable[[torch.Tensor], object]


def init_linear(layer: nn.Module, weight: Init | None = nn.init.xavier_uniform_, bias: Init = nn.init.zeros_) -> None:
    """`weight` (None: the layer's own default) and `bias` applied to whichever of the two the layer holds."""
    with torch.no_grad():
        if weight is not None and layer.weight is not None:
            weight(layer.weight)
        if layer.bias is not None:
            bias(layer.bias)
