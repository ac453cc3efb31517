"""Tiny FaceCLIP encoders for tests: the real architecture code at a few MB, written in the real file formats."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from faceclip_core.encoders.sdxl.checkpoint import save_encoder, save_official_encoder
from faceclip_core.encoders.sdxl.config import FaceCLIPConfig, TextTowerConfig, tiny_config
from faceclip_core.encoders.sdxl.model import FaceCLIPEncoder


def sdxl_width_tiny_config() -> FaceCLIPConfig:
    """SDXL's context widths (768 + 1280 = 2048, pooled 1280) with one thin layer everywhere, for host graphs."""
    cfg = tiny_config()
    text = lambda width: TextTowerConfig(width=width, layers=1, heads=2, activation=cfg.g.text.activation)  # noqa: E731
    return dataclasses.replace(
        cfg, l=dataclasses.replace(cfg.l, text=dataclasses.replace(text(768), activation="quick_gelu")),
        g=dataclasses.replace(cfg.g, text=text(1280)),
    )


def make_tiny_encoder(seed: int = 0, sdxl_widths: bool = False) -> FaceCLIPEncoder:
    torch.manual_seed(seed)
    encoder = FaceCLIPEncoder(sdxl_width_tiny_config() if sdxl_widths else tiny_config()).eval()
    # make the fusion layers matter: their residual scales start at 1e-4
    with torch.no_grad():
        for name, param in encoder.named_parameters():
            if name.endswith(("gamma_v", "gamma_l")):
                param.uniform_(0.5, 1.0)
    return encoder


def write_official_pt(encoder: FaceCLIPEncoder, path: Path, dtype: torch.dtype = torch.bfloat16) -> Path:
    """The released layout: torch.save of a flat dict, 16-bit floats, keys prefixed with 'model.'.

    A non-official size also stores its architecture under CONFIG_METADATA_KEY, which the loader reads.
    """
    save_official_encoder(encoder.state_dict(), path, dtype, encoder.config)
    return path


def write_safetensors(encoder: FaceCLIPEncoder, path: Path, dtype: torch.dtype | None = None) -> Path:
    save_encoder(encoder.state_dict(), encoder.config, path, dtype)
    return path


def random_faces(n: int, size: int = 64, seed: int = 1) -> torch.Tensor:
    """n random 'crops' in ComfyUI's IMAGE layout (n, size, size, 3), float in [0, 1]."""
    return torch.rand(n, size, size, 3, generator=torch.Generator().manual_seed(seed))
