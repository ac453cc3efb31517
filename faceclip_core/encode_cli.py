"""`encode`: face crop + prompts -> SDXL conditioning tensors in a .safetensors file."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import save_file

from .atomic import atomic_path, check_target
from .encoders.sdxl.checkpoint import DTYPES
from .errors import UsageError
from .face_input import check_face_crop_size
from .image_files import read_image


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", required=True, type=Path, help="FaceCLIP encoder: official .pt or converted .safetensors")
    p.add_argument("--face", type=Path, help="an already-aligned face crop (any size; resized as the official pipeline does)")
    p.add_argument("--prompt", action="append", required=True, help="a prompt; repeat for several (one batch)")
    p.add_argument("--no-face", action="store_true", help="every row takes the no-face path (the official negative); --face is not needed")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", required=True, type=Path, help="output .safetensors")


def read_face(path: Path) -> torch.Tensor:
    """An image file as a (1, H, W, 3) float RGB tensor in [0, 1] (ComfyUI's IMAGE layout)."""
    rgb = read_image(path)
    check_face_crop_size(*rgb.shape[:2], what=f"The face crop {path}")
    return torch.from_numpy(rgb).float()[None] / 255.0


def check_arguments(args: argparse.Namespace) -> None:
    """Refusals that need no model: run before the encoder loads."""
    if args.face is None and not args.no_face:
        raise UsageError("give --face IMG (an aligned face crop), or --no-face for the no-face path")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but this torch sees no CUDA GPU; use --device cpu")
    check_target(args.out, _inputs(args))


def _inputs(args: argparse.Namespace) -> list[Path]:
    return [args.weights] + ([args.face] if args.face is not None else [])


def run(args: argparse.Namespace) -> int:
    from .encoders.sdxl.loader import load_encoder

    check_arguments(args)
    face = None if args.no_face else read_face(args.face)
    encoder = load_encoder(args.weights, device=args.device, dtype=DTYPES[args.dtype])
    context, pooled = encoder.encode(face, args.prompt)
    with atomic_path(args.out, _inputs(args)) as partial:
        save_file({"context": context.float().cpu().contiguous(), "pooled": pooled.float().cpu().contiguous()}, str(partial))
    print(f"wrote {args.out}: context {tuple(context.shape)}, pooled {tuple(pooled.shape)}")
    return 0
