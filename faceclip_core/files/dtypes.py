"""Dtype names: the one table every command line, node and benchmark spells dtypes with.

Imports no torch, so command lines check a --dtype before torch loads; `torch_dtype` looks the dtype up.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# computed in (the command lines list them in this order)
DTYPE_NAMES = ("fp16", "bf16", "fp32")
# held in only, as the host's --fp8_e4m3fn-text-enc / --fp8_e5m2-text-enc: computed in 16/32 bit layer by layer
FP8_NAMES = ("fp8_e4m3fn", "fp8_e5m2")
# torch's long names, accepted too
DTYPE_ALIASES = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp32"}
_TORCH_NAMES = {**{short: long for long, short in DTYPE_ALIASES.items()}, **{n: n.replace("fp8", "float8") for n in FP8_NAMES}}


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a short name (imports torch: call after the arguments are checked)."""
    import torch

    return getattr(torch, _TORCH_NAMES[name])
