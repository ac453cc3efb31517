"""Aspect-ratio buckets for stage 2: SDXL's standard list of training sizes (about 1024² pixels each, sides in
multiples of 64; SDXL report, arXiv 2307.01952, appendix), scaled to `train.resolution`.

Each photo goes to the bucket whose aspect ratio is nearest its own (in log ratio), is resized to cover it and
centre-cropped; SDXL's size conditioning records the photo's real size, the crop's corner and the bucket.
"""
from __future__ import annotations

import math

# (height, width) at 1024: from 512 x 2048 (1:4, landscape) through 1024 x 1024 to 2048 x 512 (4:1, portrait)
SDXL_BUCKETS: tuple[tuple[int, int], ...] = (
    (512, 2048), (512, 1984), (512, 1920), (512, 1856), (576, 1792), (576, 1728), (576, 1664), (640, 1600),
    (640, 1536), (704, 1472), (704, 1408), (704, 1344), (768, 1344), (768, 1280), (832, 1216), (832, 1152),
    (896, 1152), (896, 1088), (960, 1088), (960, 1024), (1024, 1024), (1024, 960), (1088, 960), (1088, 896),
    (1152, 896), (1152, 832), (1216, 832), (1280, 768), (1344, 768), (1344, 704), (1408, 704), (1472, 704),
    (1536, 640), (1600, 640), (1664, 576), (1728, 576), (1792, 576), (1856, 512), (1920, 512), (1984, 512),
    (2048, 512),
)
STEP = 8  # scaled sides stay multiples of 8 pixels: whole latents for SDXL's 8x VAE


def buckets(resolution: int) -> list[tuple[int, int]]:
    """The list scaled from 1024 to `resolution` (sides rounded to multiples of 8; duplicates removed)."""
    scale = resolution / 1024
    sizes = [(max(STEP, round(h * scale / STEP) * STEP), max(STEP, round(w * scale / STEP) * STEP)) for h, w in SDXL_BUCKETS]
    return list(dict.fromkeys(sizes))


def nearest(height: int, width: int, sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """The bucket whose aspect ratio is nearest height/width's (ties: the first, i.e. the wider one)."""
    ratio = math.log(height / width)
    return min(sizes, key=lambda size: abs(math.log(size[0] / size[1]) - ratio))
