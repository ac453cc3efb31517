"""`convert`: official FaceCLIP-SDXL or FaceT5 encoder .pt -> .safetensors, optionally re-typed.

FaceCLIP-SDXL files get their architecture in the metadata; FaceT5 files keep the release's key names
(their architecture is read from the shapes).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .encoders.kind import FACET5, encoder_kind
from .encoders.sdxl.checkpoint import DTYPES, read_encoder_state, save_encoder


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", type=Path, metavar="IN.pt")
    p.add_argument("dst", type=Path, metavar="OUT.safetensors")
    p.add_argument("--dtype", choices=sorted(DTYPES), help="cast floating-point weights (default: keep the file's)")


def run(args: argparse.Namespace) -> int:
    if encoder_kind(args.src) == FACET5:
        from .encoders.t5.checkpoint import read_facet5_state, save_facet5

        state, _config = read_facet5_state(args.src)
        save_facet5(state, args.dst, DTYPES[args.dtype] if args.dtype else None)
        print(f"wrote {args.dst} (FaceT5, {len(state)} tensors{', ' + args.dtype if args.dtype else ''})")
        return 0
    state, config = read_encoder_state(args.src)
    save_encoder(state, config, args.dst, DTYPES[args.dtype] if args.dtype else None)
    print(f"wrote {args.dst} ({len(state)} tensors{', ' + args.dtype if args.dtype else ''})")
    return 0
