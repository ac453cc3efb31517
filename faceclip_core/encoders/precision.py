"""Running part of a model in a chosen dtype, whatever dtype its weights are stored in.

The official FaceCLIP code, run in 16 bits on CUDA, computes some regions in other precisions through
torch.autocast (fp32 for the fusion encoder, fp16 for the face ViT's projections). We reproduce those regions by
explicit casts instead: CPU autocast knows neither fp32 nor the same op lists, and explicit casts give the same
numbers on every device. A region's inputs are cast, and so are the parameters of its layers, except the layers
of a host that cast their weights to their input themselves (ComfyUI's casting ops): casting those here would
defeat their streaming of weights to the GPU.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call

SIXTEEN_BIT = (torch.float16, torch.bfloat16)


def _casts_itself(module: nn.Module) -> bool:
    return bool(getattr(module, "comfy_cast_weights", False))


def cast_parameters(module: nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Copies in `dtype` of the parameters that `module` would otherwise use in another dtype."""
    copies = {}
    for prefix, sub in module.named_modules():
        if _casts_itself(sub):
            continue
        for name, param in sub.named_parameters(recurse=False):
            if param.dtype != dtype:
                copies[f"{prefix}.{name}" if prefix else name] = param.to(dtype)
    return copies


def run_in(dtype: torch.dtype, module: nn.Module, *inputs: Any, **kwargs: Any) -> Any:
    """module(*inputs, **kwargs) computed in `dtype`: floating-point tensor inputs and the parameters are cast."""
    inputs = tuple(x.to(dtype) if torch.is_tensor(x) and x.is_floating_point() else x for x in inputs)
    copies = cast_parameters(module, dtype)
    if not copies:
        return module(*inputs, **kwargs)
    return functional_call(module, copies, inputs, kwargs, strict=False)
