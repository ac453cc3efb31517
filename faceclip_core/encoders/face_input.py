"""Aligned face crops in the layouts callers have (ComfyUI IMAGE NHWC, torch NCHW, one image) -> (F, 3, H, W) float."""
from __future__ import annotations

import torch

from ..errors import UsageError

# A user's face crop is resized to the face ViT's 112 px: below this there is no face left to recognise
# (a 1x1 "crop" would still give conditioning, of nobody). The detector writes 448 px crops.
MIN_FACE_CROP_SIDE = 32


def check_face_crop_size(height: int, width: int, what: str = "The face crop") -> None:
    """UsageError if a crop given by a user is smaller than MIN_FACE_CROP_SIDE on a side."""
    if min(height, width) < MIN_FACE_CROP_SIDE:
        raise UsageError(f"{what} is {width}x{height} px; a face crop needs at least {MIN_FACE_CROP_SIDE} px on each "
                         "side. Give the aligned crop `python -m faceclip_core detect IMG --out-crop CROP.png` writes (448 px).")


def faces_to_nchw(faces: torch.Tensor) -> torch.Tensor:
    """Accepts (F, H, W, C) as ComfyUI's IMAGE, (F, C, H, W), or one (H, W, C) / (C, H, W) crop.

    C is 3 (RGB) or 4 (RGBA: alpha dropped); uint8 is scaled to [0, 1]; floats are taken as [0, 1].
    """
    if not isinstance(faces, torch.Tensor):
        raise UsageError(f"faces must be a torch.Tensor, got {type(faces).__name__}")
    if faces.ndim == 3:
        faces = faces[None]
    if faces.ndim != 4:
        raise UsageError(f"faces must have 3 or 4 dimensions (F,H,W,C or F,C,H,W), got shape {tuple(faces.shape)}")
    if faces.shape[1] in (3, 4) and faces.shape[-1] not in (3, 4):
        nchw = faces
    elif faces.shape[-1] in (3, 4):
        nchw = faces.permute(0, 3, 1, 2)
    else:
        raise UsageError(
            f"faces of shape {tuple(faces.shape)} have no RGB channel axis: expected 3 or 4 channels "
            "last (ComfyUI IMAGE, F,H,W,C) or second (F,C,H,W)"
        )
    if faces.dtype == torch.uint8:
        nchw = nchw.float() / 255.0
    elif not faces.is_floating_point():
        raise UsageError(f"faces must be float in [0, 1] or uint8, got {faces.dtype}")
    return nchw[:, :3]
