"""Region masks for two people in one image, and a preview of which reference face goes to which region.

'left/right halves': face A's region is the left half. 'split between the faces': the two faces were picked from
one group photo; the image is split where the photo is split, half way between the two faces' centres (in
fractions of the photo's width), face A keeping its side. Masks are full height: people stand side by side.
Imports without ComfyUI, so CI tests it.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from faceclip_core.errors import UsageError
from faceclip_core.face import Face

from .checks import require_faces

REGION_LAYOUTS = ("left/right halves", "split between the faces")
NODE = "FaceCLIP Face Regions"
REGION_COLOURS = ((0, 230, 64), (64, 160, 255))  # A, B
GREY = 96


def first_face(value: object, input_name: str) -> Face:
    """The face a region gets: the FACE value's first row."""
    row = require_faces(value, NODE, input_name, allow_missing=True)[0]
    if row is None:
        raise UsageError(f"{NODE}: the {input_name} input's first row has no face: give a photo with a face, or set "
                         "its Detect Face's on_no_face to 'error' to find out which one.")
    return row


def split_column(face_a: Face, face_b: Face, layout: str, width: int, photo_width: int | None) -> tuple[int, bool]:
    """(the column where region B starts if A is on the left (else where A starts), whether A is on the left)."""
    if layout == REGION_LAYOUTS[0]:
        return width // 2, True
    if photo_width is None:
        raise UsageError(f"{NODE}: layout '{layout}' places the split from where the faces are in their photo: "
                         "connect that group photo to the image input, or use 'left/right halves'.")
    centre_a, centre_b = ((f.bbox[0] + f.bbox[2]) / 2 / photo_width for f in (face_a, face_b))
    if abs(centre_a - centre_b) * width < 1:
        raise UsageError(f"{NODE}: face_a and face_b are the same face of the photo: pick different faces "
                         "(Detect Face pick 'index', index 0 and 1).")
    column = int(round((centre_a + centre_b) / 2 * width))
    return min(max(column, 1), width - 1), bool(centre_a < centre_b)


def region_masks(face_a: Face, face_b: Face, layout: str, width: int, height: int,
                 photo_width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask A, mask B), each (1, height, width) float 0/1, together covering the image once."""
    column, a_left = split_column(face_a, face_b, layout, width, photo_width)
    left = torch.zeros(1, height, width)
    left[..., :column] = 1.0
    return (left, 1.0 - left) if a_left else (1.0 - left, left)


def draw_regions(masks: tuple[torch.Tensor, torch.Tensor], faces: tuple[Face, Face], photo: np.ndarray | None
                 ) -> np.ndarray:
    """(H, W, 3) uint8: the photo (or grey) at the output size, each region tinted in its colour with its face's crop
    and a label saying which input it came from."""
    height, width = masks[0].shape[-2:]
    canvas = (Image.fromarray(photo).convert("RGB").resize((width, height)) if photo is not None
              else Image.new("RGB", (width, height), (GREY,) * 3))
    pixels = np.asarray(canvas).astype(np.float32)
    for mask, colour in zip(masks, REGION_COLOURS):
        weight = mask[0].numpy()[..., None] * 0.35
        pixels = pixels * (1 - weight) + np.array(colour, np.float32) * weight
    canvas = Image.fromarray(pixels.round().astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    unit = max(1, round(max(width, height) / 400))
    for name, mask, face, colour in zip("AB", masks, faces, REGION_COLOURS):
        columns = np.flatnonzero(mask[0].numpy().any(axis=0))
        x1, x2 = int(columns[0]), int(columns[-1]) + 1
        side = max(8, min(x2 - x1, height) // 3)
        thumbnail = Image.fromarray(face.crop).resize((side, side))
        left = (x1 + x2 - side) // 2
        canvas.paste(thumbnail, (left, height - side - 8 * unit))
        draw.rectangle((left, height - side - 8 * unit, left + side, height - 8 * unit), outline=colour, width=2 * unit)
        draw.text((x1 + 4 * unit, 4 * unit), f"face_{name.lower()} -> region {name}", fill=colour, font_size=12 * unit)
    return np.asarray(canvas)


def face_regions(face_a: object, face_b: object, layout: str, width: int, height: int,
                 image: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The node: (mask A, mask B, preview IMAGE (1, height, width, 3))."""
    faces = (first_face(face_a, "face_a"), first_face(face_b, "face_b"))
    photo = None if image is None else (image[0, ..., :3].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    masks = region_masks(*faces, layout, width, height, None if photo is None else photo.shape[1])
    preview = draw_regions(masks, faces, photo if layout == REGION_LAYOUTS[1] else None)
    return masks[0], masks[1], torch.from_numpy(preview.copy())[None].float() / 255.0
