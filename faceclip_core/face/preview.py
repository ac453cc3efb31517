"""A preview of face analysis: the image with every face's box and landmarks, the picked face marked."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw

from .faces import Face
from .images import to_rgb_uint8

PICKED_COLOUR = (0, 230, 64)
OTHER_COLOUR = (255, 64, 64)
LANDMARK_COLOURS = ((0, 128, 255), (0, 128, 255), (255, 220, 0), (255, 0, 200), (255, 0, 200))


def draw_preview(image: Any, faces: Sequence[Face], picked_index: int | None, picked_label: str = "picked",
                 note: str = "") -> np.ndarray:
    """(H, W, 3) uint8 RGB copy of `image` with boxes (picked: green, thick; others: red), landmarks and
    each face's left-to-right index and score; the picked face labelled `picked_label` (e.g. where it went),
    `note` written in the top left corner (e.g. why no face is used)."""
    canvas = Image.fromarray(to_rgb_uint8(image))
    draw = ImageDraw.Draw(canvas)
    unit = max(1, round(max(canvas.size) / 400))  # lines stay visible on large images
    for index, face in enumerate(faces):
        picked = index == picked_index
        colour = PICKED_COLOUR if picked else OTHER_COLOUR
        x1, y1, x2, y2 = (float(v) for v in face.bbox)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=unit * (3 if picked else 1))
        for (x, y), dot_colour in zip(face.kps, LANDMARK_COLOURS):
            radius = 2 * unit
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=dot_colour)
        label = f"{index}{' ' + picked_label if picked else ''} {face.score:.2f}"
        draw.text((x1 + 2 * unit, max(0.0, y1 - 12 * unit)), label, fill=colour, font_size=10 * unit)
    if note:
        draw.text((4 * unit, 4 * unit), note, fill=OTHER_COLOUR, font_size=12 * unit)
    return np.asarray(canvas)
