"""Every image input face analysis accepts, turned into (H, W, 3) uint8 RGB numpy arrays.

Accepted: ComfyUI IMAGE tensors (B, H, W, C) float in [0, 1] (torch or numpy), single (H, W, C) or (H, W)
arrays, PIL images, and lists of any of these. Channels: 1 (grey), 2 (grey + alpha), 3 (RGB), 4 (RGBA);
alpha is dropped. Dtypes: uint8, uint16 (16-bit) and float in [0, 1].
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import UsageError

MIN_IMAGE_SIDE = 32  # the detector's smallest faces are ~16 px; below 32 px there is nothing to align


def as_image_list(images: Any) -> list[np.ndarray]:
    """One RGB uint8 array per image in `images`: a 4-D batch (B, H, W, C), one image, or a list of images."""
    if isinstance(images, (list, tuple)):
        arrays = [_as_array(image) for image in images]
    else:
        array = _as_array(images)
        arrays = list(array) if array.ndim == 4 else [array]
    return [to_rgb_uint8(array, index) for index, array in enumerate(arrays)]


def to_rgb_uint8(image: Any, index: int = 0) -> np.ndarray:
    """A single image as an (H, W, 3) uint8 RGB array; `index` names it in error messages."""
    array = _as_array(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise UsageError(
            f"Image {index} has shape {tuple(array.shape)}: expected (H, W), (H, W, C) or a batch (B, H, W, C) "
            "with C = 1, 2, 3 or 4 channels last."
        )
    colour = array[..., :3] if array.shape[-1] >= 3 else np.repeat(array[..., :1], 3, axis=-1)
    rgb = _to_uint8(colour, index)
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise UsageError(
            f"Image {index} is {width}x{height} px: face analysis needs at least {MIN_IMAGE_SIDE} px on each side. "
            "Use a larger image of the face."
        )
    return np.ascontiguousarray(rgb)


def load_image_file(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, upright per its EXIF orientation. UsageError if unreadable."""
    try:
        with Image.open(path) as opened:
            return to_rgb_uint8(ImageOps.exif_transpose(opened))
    except (FileNotFoundError, IsADirectoryError, UnidentifiedImageError, OSError) as exc:
        raise UsageError(f"Cannot read image {path}: {exc}. Give a PNG, JPEG or WebP file.") from exc


def _as_array(image: Any) -> np.ndarray:
    if isinstance(image, Image.Image):
        return _pil_to_array(image)
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # a torch tensor, without importing torch
        image = image.detach().cpu().float().numpy()
    return np.asarray(image)


def _pil_to_array(image: Image.Image) -> np.ndarray:
    if image.mode.startswith("I;16") or image.mode == "I":
        return np.asarray(image).astype(np.uint16)  # 16-bit grey; 'I' is how some PIL versions open it
    if image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image)
    return np.asarray(image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"))


def _to_uint8(array: np.ndarray, index: int) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        return np.rint(np.nan_to_num(array, nan=0.0).clip(0.0, 1.0) * 255).astype(np.uint8)
    raise UsageError(f"Image {index} has dtype {array.dtype}: use uint8, uint16 (16-bit) or float in [0, 1].")

