"""Every image input face analysis accepts, turned into (H, W, 3) uint8 RGB numpy arrays.

Accepted: ComfyUI IMAGE tensors (B, H, W, C) float in [0, 1] (torch or numpy), single (H, W, C) or (H, W)
arrays, PIL images, and lists of any of these. Channels: 1 (grey), 2 (grey + alpha), 3 (RGB), 4 (RGBA);
alpha is dropped. Dtypes: uint8, uint16 (16-bit) and float in [0, 1].
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import UsageError
from ..files.images import pil_to_rgb, read_image, to_uint8

MIN_IMAGE_SIDE = 32  # the detector's smallest faces are ~16 px; below 32 px there is nothing to align


def as_image_list(images: Any) -> list[np.ndarray]:
    """One RGB uint8 array per image in `images`: a 4-D batch (B, H, W, C), one image, or a list of images."""
    if isinstance(images, (list, tuple)):
        arrays = [_as_array(image) for image in images]
    else:
        array = _as_array(images)
        arrays = list(array) if array.ndim == 4 else [array]
    return [to_rgb_uint8(array, index) for index, array in enumerate(arrays)]


def to_rgb_uint8(image: Any, index: int | str | Path = 0) -> np.ndarray:
    """A single image as an (H, W, 3) uint8 RGB array; `index` (a number or a file) names it in error messages."""
    array = _as_array(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise UsageError(
            f"Image {index} has shape {tuple(array.shape)}: expected (H, W), (H, W, C) or a batch (B, H, W, C) "
            "with C = 1, 2, 3 or 4 channels last."
        )
    colour = array[..., :3] if array.shape[-1] >= 3 else np.repeat(array[..., :1], 3, axis=-1)
    rgb = to_uint8(colour, f"Image {index}")
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise UsageError(
            f"Image {index} is {width}x{height} px: face analysis needs at least {MIN_IMAGE_SIDE} px on each side. "
            "Use a larger image of the face."
        )
    return np.ascontiguousarray(rgb)


def load_image_file(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, read by the pack's one reader (image_files.read_image); UsageError if
    unreadable, too large or too small for face analysis."""
    return to_rgb_uint8(read_image(path), path)


def _as_array(image: Any) -> np.ndarray:
    if isinstance(image, Image.Image):
        return pil_to_rgb(image)
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # a torch tensor, without importing torch
        image = image.detach().cpu().float().numpy()
    return np.asarray(image)
