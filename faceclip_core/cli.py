"""`python -m faceclip_core <command>`: one sub-command per module, each with `register(subparsers)`.

Exit codes shared by every command: 0 success, 2 bad arguments or unusable input files,
other codes as each command documents (e.g. 3 for "no face found").
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import FaceCLIPError

# command name -> module that defines register(subparsers); imported lazily so `--help` stays fast
COMMANDS = {
    "encode": "faceclip_core.encode_cli",
    "convert": "faceclip_core.convert_cli",
    "detect": "faceclip_core.face.detect_cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m faceclip_core", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except FaceCLIPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
