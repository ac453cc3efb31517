"""`convert`: official FaceCLIP-SDXL or FaceT5 encoder .pt -> .safetensors, optionally re-typed.

FaceCLIP-SDXL files get their architecture in the metadata; FaceT5 files keep the release's key names
(their architecture is read from the shapes).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..files.atomic import check_target
from ..files.dtypes import torch_dtype
from .options import add_dtype_option, require_file


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", type=Path, metavar="IN.pt", help="the official face_clip_encoder.pt or face_t5_encoder.pt (or a .safetensors to re-type)")
    p.add_argument("dst", type=Path, metavar="OUT.safetensors", help="where to write the converted file")
    add_dtype_option(p, "cast floating-point weights to this precision (default: keep the file's)", default=None)


def run(args: argparse.Namespace) -> int:
    require_file(args.src, "IN.pt", "Give the FaceCLIP encoder file to convert.")
    check_target(args.dst, [args.src])  # before reading gigabytes: a folder, a device or the input itself
    from ..encoders.kind import FACET5, encoder_kind
    from ..encoders.sdxl.checkpoint import read_encoder_state, save_encoder

    dtype = torch_dtype(args.dtype) if args.dtype else None
    if encoder_kind(args.src) == FACET5:
        from ..encoders.t5.checkpoint import read_facet5_state, save_facet5

        state, _config = read_facet5_state(args.src)
        save_facet5(state, args.dst, dtype, inputs=[args.src])
        print(f"wrote {args.dst} (FaceT5, {len(state)} tensors{', ' + args.dtype if args.dtype else ''})")
        return 0
    state, config = read_encoder_state(args.src)
    save_encoder(state, config, args.dst, dtype, inputs=[args.src])
    print(f"wrote {args.dst} ({len(state)} tensors{', ' + args.dtype if args.dtype else ''})")
    return 0
