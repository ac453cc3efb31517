"""FaceCLIP command-line tools (python -m faceclip_core COMMAND --help for each).

This package is the `faceclip` / `python -m faceclip_core` command line: this module dispatches, `options` holds
what every command shares (help layout, --dtype, path checks before torch loads, exit codes), and each command
lives in its own module (encode, convert, compare_t5, download, detect) with `add_arguments(parser)` and
`run(args) -> int`; only the module of the command being run is imported, so one command's dependencies never
break another. The `idea` and `train` groups keep their entry points in their packages and use `options`.
Exit codes: 0 success, 2 bad arguments or unusable input files, others as each command documents.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .options import HelpFormatter, run_command, setup_logging

# command -> (module, one-line help)
COMMANDS = {
    "encode": ("faceclip_core.cli.encode", "encode an aligned face crop and prompts into SDXL or FLUX (FaceT5) conditioning"),
    "convert": ("faceclip_core.cli.convert", "convert a FaceCLIP-SDXL or FaceT5 encoder checkpoint to .safetensors"),
    "compare-t5": ("faceclip_core.cli.compare_t5", "check whether a stock t5xxl file holds the same T5 as a FaceT5 file"),
    "download": ("faceclip_core.cli.download", "fetch the official FaceCLIP encoder and UNet into a ComfyUI models folder"),
    "detect": ("faceclip_core.cli.detect", "find faces in an image, pick one and write its aligned 448 crop"),
}
# command groups with their own parsers: `faceclip idea train ...` = `python -m faceclip_core.idea train ...`
GROUPS = {
    "idea": ("faceclip_core.idea.__main__", "ID-EA: learn an identity from photos (idea train --help)"),
    "train": ("faceclip_core.train.__main__", "FaceCLIP training: prepare | stage1 | stage2 (train stage1 --help)"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with `command`'s arguments (None: every command's, which imports every command module)."""
    # the installed console command is `faceclip`; the same parser serves `python -m faceclip_core`
    prog = "faceclip" if Path(sys.argv[0]).stem == "faceclip" else "python -m faceclip_core"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
        if command in (name, None):
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    for name, (_, help_text) in GROUPS.items():  # listed in --help; main() hands their arguments on
        subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in GROUPS:
        return importlib.import_module(GROUPS[argv[0]][0]).main(argv[1:])
    args = build_parser(next((arg for arg in argv if not arg.startswith("-")), "")).parse_args(argv)
    setup_logging()
    return run_command(lambda: args.run(args))
