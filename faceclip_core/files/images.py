"""The one reader of image files and image bytes for every entry point (encode, detect, nodes, ID-EA, prepare).

Whatever the file holds comes out as (H, W, 3) uint8 RGB, upright: EXIF rotation applied; RGBA and
grey+alpha lose their alpha; greyscale is repeated to RGB; 16-bit is scaled (65535 -> 255, not clipped);
CMYK, palette and other modes are converted; an animation gives its first frame. A picture of more than
MAX_IMAGE_PIXELS is refused from its header, before decoding, so a few-KB "decompression bomb" cannot
take the machine's memory. Every failure is one UsageError naming the file.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import UsageError

MAX_IMAGE_PIXELS = 100_000_000  # 100 megapixels (10000 x 10000): above any camera photo a user feeds in
ImageSource = str | os.PathLike | bytes


def read_image(source: ImageSource, label: str | None = None) -> np.ndarray:
    """An image file (path) or encoded image (bytes) as (H, W, 3) uint8 RGB. `label` names bytes in errors."""
    name = label or (str(source) if not isinstance(source, bytes) else "given as bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own budget decides, below
            opened = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        with opened:
            check_pixel_budget(opened.size, name)
            return pil_to_rgb(ImageOps.exif_transpose(opened))  # frame 0 of an animation
    except Image.DecompressionBombError as exc:  # PIL's own limit (2x its warning), hit at open for the largest claims
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(name, int(claimed.group(1)) if claimed else 0, "") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:  # SyntaxError: PIL's "not a PNG file" etc.
        raise UsageError(f"Cannot read image {name}: {exc}. Give a PNG, JPEG or WebP file.") from exc


def check_pixel_budget(size: tuple[int, int], name: str) -> None:
    """UsageError if a (width, height) picture is larger than MAX_IMAGE_PIXELS."""
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise _too_large(name, width * height, f"{width}x{height} px, ")


def _too_large(name: str, pixels: int, dimensions: str) -> UsageError:
    return UsageError(
        f"Image {name} is {dimensions}{pixels / 1e6:.0f} megapixels, more than the {MAX_IMAGE_PIXELS / 1e6:.0f} "
        "megapixels this pack decodes (a small file claiming this size is a decompression bomb). Resize the photo, "
        "or use another one."
    )


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """A PIL image of any mode as (H, W, 3) uint8 RGB."""
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit grey; 'I' is how some PIL versions open it (convert('RGB') would clip it to white)
        grey = to_uint8(np.asarray(image).astype(np.uint16))
        return np.repeat(grey[..., None], 3, axis=-1)
    if image.mode == "F":
        grey = to_uint8(np.asarray(image, dtype=np.float32))
        return np.repeat(grey[..., None], 3, axis=-1)
    if image.mode != "RGB":
        image = image.convert("RGB")  # grey, alpha, palette, CMYK, YCbCr, LAB ...
    return np.ascontiguousarray(np.asarray(image))


def to_uint8(array: np.ndarray, what: str = "Image") -> np.ndarray:
    """uint8 as is, uint16 scaled by 255/65535 (rounded), float in [0, 1] (NaN as 0) scaled by 255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        return np.rint(np.nan_to_num(array, nan=0.0).clip(0.0, 1.0) * 255).astype(np.uint8)
    raise UsageError(f"{what} has dtype {array.dtype}: use uint8, uint16 (16-bit) or float in [0, 1].")


def save_image(rgb: np.ndarray, path: str | os.PathLike) -> Path:
    """Write (H, W, 3) uint8 RGB as the format its suffix names (.png, .jpg, .webp), atomically."""
    from .atomic import atomic_path

    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"Cannot write {path}: '{path.suffix}' is not an image format. End the name in .png, .jpg or .webp.")
    with atomic_path(path) as partial:
        Image.fromarray(rgb).save(partial, format=fmt)
    return path
