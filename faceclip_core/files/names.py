"""The one rule for names a user or a graph gives that become files (ID-EA names, output prefixes).

A graph downloaded from a stranger must not write outside the pack's folders: a name is letters, digits,
space, `-`, `_` and `.`, not empty, not starting with a dot (no hidden files, no `..`), not a Windows
device name (CON, NUL, COM1, ...), at most MAX_NAME_LENGTH characters; and the path built from it must
resolve inside its folder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import UsageError

MAX_NAME_LENGTH = 100  # with the longest suffix (".idea.safetensors") well under file systems' 255 bytes
_ALLOWED = re.compile(r"[^\W_]|[ ._-]")  # a Unicode letter or digit, or one of the four marks
# Windows opens these as devices whatever the extension ("NUL.safetensors" is the null device)
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def check_file_name(name: str, what: str) -> str:
    """`name` if it follows the rule; else UsageError naming `what` (e.g. "ID-EA name"), the problem and the fix."""
    if not isinstance(name, str):
        raise UsageError(f"The {what} must be text, got {type(name).__name__}.")
    fix = "Use letters, digits, spaces, '-', '_' and '.', e.g. 'my_person'."
    if not name.strip():
        raise UsageError(f"The {what} is empty. {fix}")
    if len(name) > MAX_NAME_LENGTH:
        raise UsageError(f"The {what} is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed. {fix}")
    if name.startswith("."):
        raise UsageError(f"The {what} {name!r} starts with a dot (a hidden file, or a step out of the folder). {fix}")
    if name != name.strip():
        raise UsageError(f"The {what} {name!r} starts or ends with a space. {fix}")
    bad = sorted({ch for ch in name if not _ALLOWED.fullmatch(ch)})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad)
        raise UsageError(f"The {what} {name!r} contains {shown}, which a file name here cannot hold. {fix}")
    if name.split(".")[0].strip().upper() in _WINDOWS_DEVICES:
        raise UsageError(f"The {what} {name!r} is a device name on Windows, not a file. {fix}")
    return name


def path_inside(folder: str | os.PathLike, name: str, suffix: str = "", what: str = "name") -> Path:
    """folder/(name + suffix), with `name` checked by check_file_name and the resolved path inside `folder`.

    The resolved check also refuses a file that is a symbolic link pointing out of the folder.
    """
    check_file_name(name, what)
    folder = Path(folder)
    path = folder / f"{name}{suffix}"
    root = folder.resolve()
    if not path.resolve().is_relative_to(root):
        raise UsageError(f"The {what} {name!r} leads outside {folder} ({path} resolves to {path.resolve()}). "
                         "Remove the link, or choose another name.")
    return path
