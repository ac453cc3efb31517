"""`encode`: face crop + prompts -> conditioning tensors in a .safetensors file.

The encoder kind is recognised from the weights file: FaceCLIP-SDXL (`face_clip_encoder.pt`) gives
context (N, 77, 2048) and pooled (N, 1280); FaceT5 (`face_t5_encoder.pt`, FLUX) gives context
(N, 512, 4096) and pooled (N, 768). N = number of prompts.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..files.atomic import atomic_path, check_target
from ..files.dtypes import torch_dtype
from .options import add_dtype_option, require_file
from ..errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", required=True, type=Path,
                   help="FaceCLIP-SDXL or FaceT5 encoder: official .pt or converted .safetensors (the kind is read from the file)")
    p.add_argument("--face", type=Path, help="an already-aligned face crop (any size; resized as the official pipeline does)")
    p.add_argument("--prompt", action="append", required=True, help="a prompt; repeat for several (one batch)")
    p.add_argument("--no-face", action="store_true", help="every row takes the no-face path (the official negative); --face is not needed")
    add_dtype_option(p, "weight precision while encoding (the file is always written in fp32)", default="fp32")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: cuda when this torch sees a GPU, else cpu")
    p.add_argument("--out", required=True, type=Path, help="output .safetensors (context and pooled, fp32)")


def check_arguments(args: argparse.Namespace) -> None:
    """Mistakes in the arguments, found before torch and the model load."""
    if args.face is None and not args.no_face:
        raise UsageError("give --face IMG (an aligned face crop), or --no-face for the no-face path")
    require_file(args.weights, "--weights", "Give the FaceCLIP encoder file (python -m faceclip_core download fetches it).")
    if not args.no_face:
        require_file(args.face, "--face", "Give an aligned face crop (python -m faceclip_core detect writes one).")
    check_target(args.out, _inputs(args))


def _inputs(args: argparse.Namespace) -> list[Path]:
    return [args.weights] + ([args.face] if args.face is not None else [])


def read_face(path: Path):
    """An image file as a (1, H, W, 3) float RGB tensor in [0, 1] (ComfyUI's IMAGE layout), read by the pack's one
    reader (EXIF rotation, 16-bit, greyscale, pixel budget) and refused when too small for a face crop."""
    import torch

    from ..encoders.face_input import check_face_crop_size
    from ..files.images import read_image

    rgb = read_image(path)
    check_face_crop_size(*rgb.shape[:2], what=f"The face crop {path}")
    return torch.tensor(rgb, dtype=torch.float32)[None] / 255.0  # a copy: the decoded array is read-only


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but this torch sees no CUDA GPU; use --device cpu")
    return name


def run(args: argparse.Namespace) -> int:
    check_arguments(args)
    from safetensors.torch import save_file

    from ..encoders.kind import FACET5, encoder_kind
    from ..encoders.sdxl.loader import load_encoder
    from ..encoders.t5.loader import load_facet5

    device = resolve_device(args.device)
    face = None if args.no_face else read_face(args.face)
    load = load_facet5 if encoder_kind(args.weights) == FACET5 else load_encoder
    encoder = load(args.weights, device=device, dtype=torch_dtype(args.dtype))
    context, pooled = encoder.encode(face, args.prompt)
    with atomic_path(args.out, _inputs(args)) as partial:
        save_file({"context": context.float().cpu().contiguous(), "pooled": pooled.float().cpu().contiguous()}, str(partial))
    print(f"wrote {args.out}: context {tuple(context.shape)}, pooled {tuple(pooled.shape)}")
    return 0
