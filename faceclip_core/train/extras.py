"""Imports of the optional `train` extra, failing with the install command instead of a bare ImportError."""
from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import UsageError

INSTALL_HINT = "pip install -r requirements-train.txt  (or: pip install 'comfyui-faceclip[train]')"


def require(module: str, purpose: str) -> ModuleType:
    """Import `module` (a package of the train extra) or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(
            f"{purpose} needs the Python package '{module.split('.')[0]}', which is not installed ({exc}). "
            f"Install the training extra: {INSTALL_HINT}"
        ) from exc
