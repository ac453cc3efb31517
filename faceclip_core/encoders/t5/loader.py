"""Build a ready-to-run FaceT5 encoder from the release's `face_t5_encoder.pt` (or its `.safetensors`).

No second copy: the file is memory-mapped, the model is built on the meta device and takes the file's
tensors as its parameters (`assign=True`); a tensor already in its target dtype stays on the mapping.
"""
from __future__ import annotations

import os

import torch
from torch import nn

from ...files.weights import aligned
from .. import casting
from ..attention import Operations
from .checkpoint import read_facet5_state, read_t5xxl_state
from .model import FaceT5Encoder


def matrix_keys(model: nn.Module) -> set[str]:
    """The tensors held in the storage dtype: layer weights (Linear, Embedding, Conv2d) and the attention
    in_proj matrices. Everything else (norms, biases, BatchNorm statistics, layer scales, position tables)
    stays in the compute dtype: small, and used as is."""
    layers = (nn.Linear, nn.Embedding, nn.Conv2d)
    keys = {f"{name}.weight" for name, module in model.named_modules() if isinstance(module, layers)}
    return keys | {name for name, _ in model.named_parameters() if name.endswith("in_proj_weight")}


def _stored(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`tensor` in `dtype`, aligned; integer buffers copied (a tensor left on a mapping keeps the file mapped)."""
    if not tensor.is_floating_point():
        return tensor.clone()
    return aligned(tensor.to(dtype))


def load_facet5(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    ops: Operations = nn,
    t5_path: str | os.PathLike | None = None,
    storage_dtype: torch.dtype | None = None,
) -> FaceT5Encoder:
    """The FaceT5 encoder in `path`, in eval mode on `device`, computing in `dtype`.

    - `dtype`: the compute dtype (float32, float16 or bfloat16); `encode` returns tensors in it.
    - `storage_dtype`: the dtype matrices are held in (default: `dtype`). With a different one (e.g.
      torch.float8_e4m3fn to halve T5-XXL's 9.5 GB), the layers must cast at use: pass casting `ops`
      (ComfyUI's `comfy.ops.manual_cast`); with `ops=torch.nn` this package's `casting` layers are used.
      Only layer weights and attention in_proj matrices take it (see `matrix_keys`); the rest is in `dtype`.
    - `ops`: where Linear, LayerNorm, Conv2d and Embedding come from.
    - `t5_path`: take the T5-XXL encoder from this file (ComfyUI's `t5xxl_*.safetensors` layout,
      `encoder.block.N.layer…` + `shared.weight`) instead of from `path`; everything else comes from
      `path`. Only valid when that T5 equals the release's frozen T5 (see checkpoint.read_t5xxl_state).
    The architecture is read from the tensors' names and shapes, so reduced-size files load too.
    """
    state, config = read_facet5_state(path)
    if t5_path is not None:
        state.update(read_t5xxl_state(t5_path, config))
    storage = storage_dtype or dtype
    if storage != dtype and ops is nn:
        ops = casting
    with torch.device("meta"):
        model = FaceT5Encoder(config, ops)
    matrices = matrix_keys(model)
    for key in list(state):  # in place: each source tensor is freed as soon as its stored form exists
        state[key] = _stored(state[key], storage if key in matrices else dtype)
    model.load_state_dict(state, strict=True, assign=True)
    model.execution_dtype = dtype
    return model.to(device).eval().requires_grad_(False)
