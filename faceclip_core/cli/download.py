"""`download`: the official FaceCLIP files into a ComfyUI models folder, where the example workflows look."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..files.download import OFFICIAL_FILES, download_official

# official file -> (models subfolder, file name the workflows use)
PLACES = {"face_clip_encoder.pt": ("faceclip", "face_clip_encoder.pt"), "unet.pt": ("unet", "faceclip_unet.pt")}
CHOICES = {"encoder": "face_clip_encoder.pt", "unet": "unet.pt"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", required=True, type=Path, help="ComfyUI's models folder")
    p.add_argument("--only", choices=sorted(CHOICES), help="fetch one file (default: both, about 8.3 GB)")


def _report(name: str):
    def progress(done: int, total: int) -> None:
        print(f"\r{name}: {done / 2**30:.2f} / {total / 2**30:.2f} GiB", end="", file=sys.stderr, flush=True)
    return progress


def run(args: argparse.Namespace) -> int:
    for key in [args.only] if args.only else sorted(CHOICES):
        name = CHOICES[key]
        folder, save_as = PLACES[name]
        target = args.models_dir / folder / save_as
        if target.is_file():
            print(f"{target} exists; skipped")
            continue
        print(f"downloading {name} ({OFFICIAL_FILES[name][1]}) to {target}", file=sys.stderr)
        download_official(name, args.models_dir / folder, progress=_report(name), save_as=save_as)
        print(f"\nwrote {target}")
    return 0
