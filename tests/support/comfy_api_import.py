"""Import the pack's V3 node modules in a unit test, without a running host.

They need ComfyUI's `comfy_api` (not on PyPI): the installed one when the test runs inside a host's environment,
else the checkout COMFYUI_PATH names (appended to sys.path, so this project's `nodes` package still wins over
ComfyUI's nodes.py). Where neither imports (CI has no ComfyUI), the test skips with the reason; the node logic
and input checks (nodes/*_logic.py, nodes/checks.py) import without comfy_api and are tested there anyway.
"""
from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest


def node_extension() -> ModuleType:
    """nodes.extension (NODES, comfy_entrypoint), or a skip saying why comfy_api is missing."""
    try:
        importlib.import_module("comfy_api.v0_0_2")
    except ImportError:
        checkout = os.environ.get("COMFYUI_PATH", "")
        if not checkout or not (Path(checkout) / "comfy_api").is_dir():
            pytest.skip("comfy_api is not importable and COMFYUI_PATH names no ComfyUI checkout: the V3 schema tests "
                        "need one (COMFYUI_PATH=/path/to/ComfyUI, in an environment with its requirements)")
        if checkout not in sys.path:
            sys.path.append(checkout)
        try:
            importlib.import_module("comfy_api.v0_0_2")
        except ImportError as error:
            pytest.skip(f"ComfyUI's comfy_api in {checkout} does not import here ({error}): run the V3 schema tests "
                        "in the host's environment (its venv's python -m pytest ...)")
    return importlib.import_module("nodes.extension")
