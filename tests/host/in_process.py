"""Import the host's own modules into the test process (for checks that read host code, never copy it)."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType


def import_host_module(comfy_path: Path, name: str) -> ModuleType:
    """Import e.g. "comfy.sd" or "folder_paths" from the checkout at `comfy_path`, with the host
    configured as `--cpu` (its device probing would otherwise ask for CUDA)."""
    if str(comfy_path) not in sys.path:
        sys.path.insert(0, str(comfy_path))
    cli_args = importlib.import_module("comfy.cli_args")  # parses no command line unless told to
    cli_args.args.cpu = True
    return importlib.import_module(name)
