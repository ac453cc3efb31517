"""What nodes need from the host before any node is declared: its version, and its folder table (folder_files).

Declarations must also work where there is no host, as in unit tests and workflow tools; there the dropdowns fall
back to their fixed entries.
"""
from __future__ import annotations

from types import ModuleType

# The oldest ComfyUI the nodes are tested on (the V3 schema through comfy_api.v0_0_2, its validate_inputs and
# fingerprint_inputs hooks). pyproject.toml's [tool.comfy] requires-comfyui says the same for the registry.
MIN_COMFYUI = (0, 3, 64)


def folder_paths() -> ModuleType | None:
    try:
        import folder_paths as module
    except ImportError:
        return None
    return module


def folder_files(folder: str) -> list[str]:
    """A models folder's files; none outside a host, or before the pack has registered the folder."""
    table = folder_paths()
    registered = table is not None and folder in table.folder_names_and_paths
    return table.get_filename_list(folder) if registered else []


def version_tuple(text: str) -> tuple[int, ...]:
    """"0.3.64" -> (0, 3, 64); a part that is no number (a suffix such as "rc1") ends the tuple."""
    parts = []
    for part in text.strip().lstrip("v").split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def host_version_problem(installed: str | None) -> str | None:
    """Why this host is too old for the pack (one log line naming the fix), or None when it is recent enough.
    `installed` is the host's comfyui_version.__version__, None when the host has no such module (very old)."""
    wanted = ".".join(map(str, MIN_COMFYUI))
    if installed is not None and version_tuple(installed) >= MIN_COMFYUI:
        return None
    return (f"comfyui-faceclip needs ComfyUI {wanted} or newer (its V3 node schema), but this ComfyUI is "
            f"{installed or 'older than that'}: update ComfyUI (git pull, or the Manager's Update ComfyUI); "
            "the FaceCLIP nodes are not loaded.")
