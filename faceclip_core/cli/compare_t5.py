"""`compare-t5`: does a stock T5-XXL file hold the same T5 as a FaceT5 file? (decides whether `t5_path` is safe)"""
from __future__ import annotations

import argparse
from pathlib import Path

from .options import require_file


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("facet5", type=Path, metavar="face_t5_encoder.pt", help="the release's FaceT5 encoder file")
    p.add_argument("t5xxl", type=Path, metavar="t5xxl_*.safetensors", help="a T5-XXL encoder in ComfyUI's layout")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every T5 tensor agrees within the two files' rounding, 1 when any differs by more."""
    require_file(args.facet5, "face_t5_encoder.pt", "Give the release's FaceT5 encoder file.")
    require_file(args.t5xxl, "t5xxl", "Give a T5-XXL encoder file from ComfyUI's models/text_encoders.")
    import torch

    from ..encoders.t5.checkpoint import read_facet5_state, read_t5xxl_state, t5_differences

    facet5, config = read_facet5_state(args.facet5)
    stock = read_t5xxl_state(args.t5xxl, config)
    # each file rounds the same values: allow one rounding step of each, relative to the tensor's largest magnitude
    dtypes = {t.dtype for t in (*stock.values(), *(facet5[k] for k in stock))}
    tolerance = sum(torch.finfo(d).eps for d in dtypes)
    differences = t5_differences(facet5, stock)
    worst = max(differences, key=differences.get)
    same = sum(d <= tolerance for d in differences.values())
    print(f"{same} of {len(differences)} T5 tensors agree within rounding ({tolerance:.1e} relative; "
          f"dtypes {', '.join(sorted(str(d).removeprefix('torch.') for d in dtypes))}); "
          f"largest difference {differences[worst]:.2e} in {worst}")
    if same == len(differences):
        print("The stock file holds the release's T5: t5_path can take the T5 from it.")
        return 0
    print("The release's T5 differs from the stock file: keep the FaceT5 file's own T5 (no t5_path).")
    return 1
