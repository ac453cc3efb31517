"""`encode`: face crop + prompts -> conditioning tensors in a .safetensors file.

The encoder kind is recognised from the weights file: FaceCLIP-SDXL (`face_clip_encoder.pt`) gives
context (N, 77, 2048) and pooled (N, 1280); FaceT5 (`face_t5_encoder.pt`, FLUX) gives context
(N, 512, 4096) and pooled (N, 768). N = number of prompts.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from safetensors.torch import save_file

from .encoders.sdxl.checkpoint import DTYPES
from .errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", required=True, type=Path,
                   help="FaceCLIP-SDXL or FaceT5 encoder: official .pt or converted .safetensors (the kind is read from the file)")
    p.add_argument("--face", type=Path, help="an already-aligned face crop (any size; resized as the official pipeline does)")
    p.add_argument("--prompt", action="append", required=True, help="a prompt; repeat for several (one batch)")
    p.add_argument("--no-face", action="store_true", help="every row takes the no-face path (the official negative); --face is not needed")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", required=True, type=Path, help="output .safetensors")


def read_face(path: Path) -> torch.Tensor:
    """An image file as a (1, H, W, 3) float RGB tensor in [0, 1] (ComfyUI's IMAGE layout)."""
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise UsageError(f"cannot read the face image {path}: {exc}") from exc
    return torch.from_numpy(rgb)[None]


def run(args: argparse.Namespace) -> int:
    from .encoders.kind import FACET5, encoder_kind
    from .encoders.sdxl.loader import load_encoder
    from .encoders.t5.loader import load_facet5

    if args.face is None and not args.no_face:
        raise UsageError("give --face IMG (an aligned face crop), or --no-face for the no-face path")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but this torch sees no CUDA GPU; use --device cpu")
    face = None if args.no_face else read_face(args.face)
    load = load_facet5 if encoder_kind(args.weights) == FACET5 else load_encoder
    encoder = load(args.weights, device=args.device, dtype=DTYPES[args.dtype])
    context, pooled = encoder.encode(face, args.prompt)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({"context": context.float().cpu().contiguous(), "pooled": pooled.float().cpu().contiguous()}, str(args.out))
    print(f"wrote {args.out}: context {tuple(context.shape)}, pooled {tuple(pooled.shape)}")
    return 0
