"""Image bytes in shards <-> arrays, and the square crops batches carry. Decoding is the pack's one image reader
(`faceclip_core.files.images`), so a training sample reads exactly as the analyser saw it."""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from ..files.images import read_image
from .vision_tower import resize_center_crop


def decode(data: bytes) -> np.ndarray:
    """Encoded image bytes -> (H, W, 3) uint8 RGB."""
    return read_image(data, "in a shard")


def encode(array: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, quality=quality)
    return buffer.getvalue()


def chw(array: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) uint8 tensor."""
    return torch.from_numpy(np.array(array)).permute(2, 0, 1)  # a copy: PIL arrays are read-only


def square(array: np.ndarray, size: int) -> tuple[torch.Tensor, int, int]:
    """(H, W, 3) uint8 -> (3, size, size) uint8: shorter side resized to `size`, centre crop; and the crop's
    top-left corner in the resized photo (SDXL's crop conditioning)."""
    h, w = array.shape[:2]
    scale = size / min(h, w)
    top, left = max(0, (round(h * scale) - size) // 2), max(0, (round(w * scale) - size) // 2)
    pixels = resize_center_crop(chw(array)[None].float(), size)[0]
    return pixels.round().clamp(0, 255).to(torch.uint8), top, left


def cover(array: np.ndarray, height: int, width: int) -> tuple[torch.Tensor, int, int]:
    """(H, W, 3) uint8 -> (3, height, width) uint8: resized (bicubic, antialiased) to cover height x width, centre
    crop; and the crop's top-left corner in the resized photo (SDXL's crop conditioning)."""
    h, w = array.shape[:2]
    scale = max(height / h, width / w)
    size = (max(height, round(h * scale)), max(width, round(w * scale)))
    resized = torch.nn.functional.interpolate(chw(array)[None].float(), size=size, mode="bicubic", align_corners=False,
                                              antialias=True)[0]
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    pixels = resized[:, top : top + height, left : left + width]
    return pixels.round().clamp(0, 255).to(torch.uint8), top, left
