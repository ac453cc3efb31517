"""Build a ready-to-run FaceCLIP encoder from a weights file, without paying for random initialisation."""
from __future__ import annotations

import os

import torch
from torch import nn

from ...files.weights import aligned
from ..attention import Operations
from .checkpoint import read_encoder_state
from .config import FaceCLIPConfig
from .model import FaceCLIPEncoder


def load_encoder(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    config: FaceCLIPConfig | None = None,
    ops: Operations = nn,
) -> FaceCLIPEncoder:
    """The encoder in `path` (official `.pt` or our `.safetensors`) in eval mode, on `device` in `dtype`.

    The model is built on the meta device and takes the file's tensors as its parameters
    (`assign=True`), so nothing is initialised only to be overwritten.
    """
    state, config = read_encoder_state(path, config)
    # integer buffers are copied too: one tensor left on a memory-mapped file keeps all of it mapped
    state = {k: aligned(v.to(dtype)) if v.is_floating_point() else v.clone() for k, v in state.items()}
    with torch.device("meta"):
        model = FaceCLIPEncoder(config, ops)
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(device).eval().requires_grad_(False)
