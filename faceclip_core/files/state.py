"""Reading a resumable training state (torch.save of a dict) without trusting it: tensors and plain data only."""
from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError


def read_training_state(path: str | os.PathLike, fields: Mapping[str, type | tuple[type, ...]], fix: str) -> dict[str, Any]:
    """The dict saved at `path`, each of `fields` present with its type; else one CheckpointError naming the file,
    the field and `fix` (e.g. "delete it to start over"). Never unpickles code (weights_only)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        size = path.stat().st_size if path.is_file() else 0
        raise CheckpointError(f"{path}: cannot be read as a training state: it is truncated or damaged ({size:,} bytes; "
                              f"torch said: {(str(exc).splitlines() or [type(exc).__name__])[0]}). {fix[:1].upper()}{fix[1:]}.") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a training state. {fix[:1].upper()}{fix[1:]}.")
    return check_fields(path, state, fields, fix)


def check_fields(path: str | os.PathLike, state: dict[str, Any], fields: Mapping[str, type | tuple[type, ...]],
                 fix: str) -> dict[str, Any]:
    """`state` (read from `path`) if each of `fields` is present with its type; else the CheckpointError above."""
    for field, kind in fields.items():
        if not isinstance(state.get(field), kind):
            found = "missing" if field not in state else f"a {type(state[field]).__name__}"
            raise CheckpointError(f"{path}: field '{field}' of the training state is {found}. {fix[:1].upper()}{fix[1:]}.")
    return state
