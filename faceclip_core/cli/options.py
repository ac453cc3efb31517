"""What every command line shares: the help layout, the dtype spelling, and path checks that run before torch loads.

Imports nothing heavy, so `--help` and argument mistakes answer at once; each command imports torch and its
models only after its arguments have passed these checks.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import FaceCLIPError, UsageError
from ..files.dtypes import DTYPE_ALIASES, DTYPE_NAMES

NO_TORCH = ("this command needs PyTorch, which ComfyUI brings but this Python lacks. Install the build for your "
            "GPU first (https://pytorch.org/get-started/locally/), e.g. pip install torch, then run it again.")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default after its help, unless there is none to show or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        nothing_to_show = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if nothing_to_show or action.required or "default" in text:
            return text
        return super()._get_help_string(action)


def setup_logging() -> None:
    """The core's warnings (a prompt cut to fit, a GPU runtime that could not start) to stderr, one line each."""
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")


def dtype_name(value: str) -> str:
    """argparse type: fp16, bf16 or fp32 (float16, bfloat16, float32 accepted) -> the short name."""
    name = DTYPE_ALIASES.get(value.lower(), value.lower())
    if name not in DTYPE_NAMES:
        raise argparse.ArgumentTypeError(f"invalid dtype {value!r}: choose from {', '.join(DTYPE_NAMES)}")
    return name


def add_dtype_option(parser: argparse.ArgumentParser, help_text: str, default: str | None, extra: tuple[str, ...] = ()) -> None:
    """--dtype with the shared spelling; `extra` adds choices such as 'auto' (then resolved by the command)."""
    names = (*extra, *DTYPE_NAMES)

    def parse(value: str) -> str:
        return value.lower() if value.lower() in extra else dtype_name(value)

    parser.add_argument("--dtype", type=parse, default=default, metavar="{" + ",".join(names) + "}", help=help_text)


def require_file(path: Path, option: str, fix: str) -> Path:
    """Stops with `option PATH does not exist` (or is a folder) and the fix, before anything slow runs."""
    if not path.exists():
        raise UsageError(f"{option} {path} does not exist. {fix}")
    if not path.is_file():
        raise UsageError(f"{option} {path} is a folder, not a file. {fix}")
    return path


def require_folder(path: Path, option: str, fix: str) -> Path:
    """Stops with `option PATH is not a folder` and the fix, before anything slow runs."""
    if not path.is_dir():
        raise UsageError(f"{option} {path} is not a folder. {fix}")
    return path


def run_command(command: Callable[[], int | None]) -> int:
    """Runs a command; an error of ours or a missing torch ends as one line on stderr and the exit code."""
    try:
        return int(command() or 0)
    except FaceCLIPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        print(f"error: {NO_TORCH}", file=sys.stderr)
        return 2
