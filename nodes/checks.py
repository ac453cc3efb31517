"""Input checks for the nodes: a value of the wrong type or out of range, from a hand-edited or downloaded graph, is
one UsageError that names the node, the input and the fix, never a raw KeyError/TypeError from deep inside.

Imports without ComfyUI, so CI tests it. The V3 nodes call these from `validate_inputs` (widget values, before
anything runs) and again from `execute` (linked values, which validation does not see).
"""
from __future__ import annotations

import math
from typing import Any

import torch

from faceclip_core.errors import UsageError
from faceclip_core.face import Face
from faceclip_core.files.names import check_file_name


def require(value: Any, kind: type | tuple[type, ...], node: str, input_name: str, source: str) -> Any:
    """`value` if it is a `kind`; else the error names what the input must come from."""
    if not isinstance(value, kind):
        raise UsageError(f"{node}: the {input_name} input must come from {source} (got {type(value).__name__}). "
                         f"Connect {source} to it.")
    return value


def require_faces(value: Any, node: str, input_name: str) -> list[Face]:
    """A FACE value: a non-empty list of faces, as FaceCLIP Detect Face gives."""
    if not isinstance(value, list) or not value or not all(isinstance(face, Face) for face in value):
        raise UsageError(f"{node}: the {input_name} input must be a FACE from FaceCLIP Detect Face "
                         f"(got {type(value).__name__}). Connect a Detect Face node to it.")
    return value


def number_problem(value: Any, input_name: str, low: float, high: float) -> str | None:
    """Why `value` is no finite number in [low, high], or None when it is one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{input_name} must be a number (got {type(value).__name__})"
    if not math.isfinite(value):
        return f"{input_name} must be a finite number (got {value}): set it between {low} and {high}"
    if not low <= value <= high:
        return f"{input_name} must be between {low} and {high} (got {value})"
    return None


def require_number(value: Any, node: str, input_name: str, low: float, high: float) -> float:
    problem = number_problem(value, input_name, low, high)
    if problem:
        raise UsageError(f"{node}: {problem}.")
    return value


def name_problem(name: Any) -> str | None:
    """Why `name` cannot name the ID-EA files (NAME.safetensors, NAME.idea.safetensors, NAME.state.pt), or None:
    the pack's one file-name rule (faceclip_core.files.names), as the core applies it where it writes them."""
    try:
        check_file_name(name, "ID-EA name")
    except UsageError as exc:
        return str(exc)
    return None


def require_name(name: Any, node: str) -> str:
    problem = name_problem(name)
    if problem:
        raise UsageError(f"{node}: {problem}.")
    return name


def require_conditioning(value: Any, node: str, input_name: str) -> list:
    """CONDITIONING: a list of [tensor, options dict] pairs, as the host's text encoders give."""
    if not isinstance(value, list) or not all(
            isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], torch.Tensor)
            and isinstance(item[1], dict) for item in value):
        raise UsageError(f"{node}: the {input_name} input is not CONDITIONING (got {type(value).__name__}). "
                         "Connect a text encoder's output (e.g. CLIP Text Encode) to it.")
    return value
