"""`convert`: official FaceCLIP encoder .pt -> .safetensors (architecture in the metadata), optionally re-typed."""
from __future__ import annotations

import argparse
from pathlib import Path

from .atomic import check_target
from .encoders.sdxl.checkpoint import DTYPES, read_encoder_state, save_encoder


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", type=Path, metavar="IN.pt")
    p.add_argument("dst", type=Path, metavar="OUT.safetensors")
    p.add_argument("--dtype", choices=sorted(DTYPES), help="cast floating-point weights (default: keep the file's)")


def run(args: argparse.Namespace) -> int:
    check_target(args.dst, [args.src])  # before reading gigabytes: a folder, a device or the input itself
    state, config = read_encoder_state(args.src)
    save_encoder(state, config, args.dst, DTYPES[args.dtype] if args.dtype else None, inputs=[args.src])
    print(f"wrote {args.dst} ({len(state)} tensors{', ' + args.dtype if args.dtype else ''})")
    return 0
