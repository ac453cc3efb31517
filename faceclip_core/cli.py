"""FaceCLIP command-line tools (python -m faceclip_core COMMAND --help for each).

Each command lives in its own module with `add_arguments(parser)` and `run(args) -> int`; only the
module of the command being run is imported, so one command's dependencies never break another.
Exit codes: 0 success, 2 bad arguments or unusable input files, others as each command documents.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import FaceCLIPError

# command -> (module, one-line help)
COMMANDS = {
    "encode": ("faceclip_core.encode_cli", "encode an aligned face crop and prompts into SDXL or FLUX (FaceT5) conditioning"),
    "convert": ("faceclip_core.convert_cli", "convert a FaceCLIP-SDXL or FaceT5 encoder checkpoint to .safetensors"),
    "compare-t5": ("faceclip_core.compare_t5_cli", "check whether a stock t5xxl file holds the same T5 as a FaceT5 file"),
    "download": ("faceclip_core.download_cli", "fetch the official FaceCLIP encoder and UNet into a ComfyUI models folder"),
    "detect": ("faceclip_core.face.detect_cli", "find faces in an image, pick one and write its aligned 448 crop"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m faceclip_core", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except FaceCLIPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
