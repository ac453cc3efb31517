"""Tiny FaceCLIP encoders for tests: the real architecture code at a few MB, written in the real file formats."""
from __future__ import annotations

from pathlib import Path

import torch

from faceclip_core.checkpoint import save_encoder, save_official_encoder
from faceclip_core.config import tiny_config
from faceclip_core.model import FaceCLIPEncoder


def make_tiny_encoder(seed: int = 0) -> FaceCLIPEncoder:
    torch.manual_seed(seed)
    encoder = FaceCLIPEncoder(tiny_config()).eval()
    # make the fusion layers matter: their residual scales start at 1e-4
    with torch.no_grad():
        for name, param in encoder.named_parameters():
            if name.endswith(("gamma_v", "gamma_l")):
                param.uniform_(0.5, 1.0)
    return encoder


def write_official_pt(encoder: FaceCLIPEncoder, path: Path, dtype: torch.dtype = torch.bfloat16) -> Path:
    """The released layout: torch.save of a flat dict, 16-bit floats, keys prefixed with 'model.'."""
    save_official_encoder(encoder.state_dict(), path, dtype)
    return path


def write_safetensors(encoder: FaceCLIPEncoder, path: Path, dtype: torch.dtype | None = None) -> Path:
    save_encoder(encoder.state_dict(), encoder.config, path, dtype)
    return path


def random_faces(n: int, size: int = 64, seed: int = 1) -> torch.Tensor:
    """n random 'crops' in ComfyUI's IMAGE layout (n, size, size, 3), float in [0, 1]."""
    return torch.rand(n, size, size, 3, generator=torch.Generator().manual_seed(seed))
