"""Decoding photos of any mode (EXIF-rotated, grey, RGBA, palette, 16-bit) into RGB uint8 arrays, and back to bytes."""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageOps

from .vision_tower import resize_center_crop

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def to_rgb(image: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB; EXIF orientation applied, alpha composited on white, 16-bit scaled down."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # PIL's convert("L") clips 16-bit values instead of scaling them
        grey = np.asarray(image, dtype=np.float64) / 257.0
        return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return np.asarray(image.convert("RGB"))


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return to_rgb(image)


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
