"""Stage-1 export: the trained encoder without the training heads, in both layouts the FaceCLIP Loader reads."""
from __future__ import annotations

from pathlib import Path

import torch

from ..encoders.sdxl.checkpoint import save_encoder, save_official_encoder
from ..encoders.sdxl.config import FaceCLIPConfig

SAFETENSORS_NAME = "face_clip_encoder.safetensors"
OFFICIAL_NAME = "face_clip_encoder.pt"


def export_encoder(state: dict[str, torch.Tensor], config: FaceCLIPConfig, out: Path,
                   safetensors_dtype: torch.dtype | None = None, official_dtype: torch.dtype = torch.bfloat16) -> list[Path]:
    """Write an encoder's state dict as `face_clip_encoder.safetensors` (config inside; fp32 unless told) and in the
    released `.pt` layout (bf16)."""
    out = Path(out)
    state = {k: v.detach().cpu() for k, v in state.items()}
    save_encoder(state, config, out / SAFETENSORS_NAME, safetensors_dtype)
    save_official_encoder(state, out / OFFICIAL_NAME, official_dtype, config)
    return [out / SAFETENSORS_NAME, out / OFFICIAL_NAME]
