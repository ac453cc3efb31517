"""Which of the release's encoders a weights file holds, from its key names alone (no tensor is read)."""
from __future__ import annotations

import os
from pathlib import Path

from ..files.weights import Advice, file_kind, read_checkpoint
from .t5.config import is_facet5

SDXL = "sdxl"  # FaceCLIP-SDXL: face_clip_encoder.pt
FACET5 = "facet5"  # FaceT5 for FLUX: face_t5_encoder.pt
ADVICE = Advice("a FaceCLIP encoder (face_clip_encoder.pt or face_t5_encoder.pt)",
                "https://huggingface.co/ByteDance/FaceCLIP (model/face_clip_encoder.pt, model/face_t5_encoder.pt)",
                "the encoder file inside it (face_clip_encoder.pt, face_t5_encoder.pt or a .safetensors)",
                ", e.g. with huggingface_hub or the FaceCLIP Loader's download option")


def _keys(path: Path) -> list[str]:
    if path.is_file() and file_kind(path) == "safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                return list(f.keys())
        except Exception:  # let read_checkpoint report what is wrong with the file
            pass
    return list(read_checkpoint(path, ADVICE)[0])  # .pt: memory-mapped, so listing keys reads no tensor data


def encoder_kind(path: str | os.PathLike) -> str:
    """FACET5 when the file has FaceT5's T5 and CLIP-L parts, else SDXL (whose loader reports any other file)."""
    return FACET5 if is_facet5(_keys(Path(path))) else SDXL
