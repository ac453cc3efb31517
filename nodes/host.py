"""The one place nodes reach for ComfyUI's folder table at declaration time.

Declarations (INPUT_TYPES) must also work where there is no host, as in unit tests and workflow
tools; there the dropdowns fall back to their fixed entries.
"""
from __future__ import annotations

from types import ModuleType


def folder_paths() -> ModuleType | None:
    try:
        import folder_paths as module
    except ImportError:
        return None
    return module
