"""Input checks for the nodes: a value of the wrong type or out of range, from a hand-edited or downloaded graph, is
one UsageError that names the node, the input and the fix, never a raw KeyError/TypeError from deep inside.

Imports without ComfyUI, so CI tests it. Widget values are checked against what the node's own V3 schema declares
(`input_specs`, `inputs_problem`; nodes/checked_node.py runs that for every node, in `validate_inputs` and before
`execute`); linked values are checked by the `require*` functions where a node reads them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

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


def require_faces(value: Any, node: str, input_name: str = "face", allow_missing: bool = False) -> list[Face | None]:
    """A FACE value: a non-empty list of faces, as FaceCLIP Detect Face gives; with `allow_missing`, rows may be None
    (a photo without a face that Detect Face's on_no_face passed on)."""
    if not isinstance(value, list) or not value or not all(
            isinstance(face, Face) or (allow_missing and face is None) for face in value):
        raise UsageError(f"{node}: the {input_name} input must be a FACE from FaceCLIP Detect Face "
                         f"(got {type(value).__name__}). Connect a Detect Face node to it.")
    return value


def number_problem(value: Any, input_name: str, low: float | None = None, high: float | None = None,
                   whole: bool = False) -> str | None:
    """Why `value` is no finite number in [low, high] (a bound of None: none on that side; `whole`: an integer),
    or None when it is one."""
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        return f"{input_name} must be a {'whole number' if whole else 'number'} (got {type(value).__name__})"
    bounds = _bounds_text(low, high)
    if not math.isfinite(value):
        return f"{input_name} must be a finite number (got {value})" + (f": set it {bounds}" if bounds else "")
    if (low is not None and value < low) or (high is not None and value > high):
        return f"{input_name} must be {bounds} (got {shorten(value)})"
    return None


def _bounds_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    if low is not None:
        return f"at least {low}"
    return "" if high is None else f"at most {high}"


# How long a given value may be shown in a message: a 100 000-character string or a 300-digit number is cut.
SHOWN_CHARACTERS = 60


def shorten(value: Any) -> str:
    """`value` as a message shows it: repr (quotes, escaped control characters), cut to SHOWN_CHARACTERS."""
    text = repr(value)
    if len(text) <= SHOWN_CHARACTERS:
        return text
    if isinstance(value, str):
        size = f"{len(value)} characters"
    else:
        size = f"{len(text)} digits" if isinstance(value, int) else f"{len(text)} characters as text"
    return f"{text[:SHOWN_CHARACTERS - 10]}… ({size})"


# Longer option lists (files of a models folder) are cut in messages, as the host cuts its own.
SHOWN_CHOICES = 12


def choices_text(options: tuple) -> str:
    shown = ", ".join(map(str, options[:SHOWN_CHOICES]))
    return shown + (f", … ({len(options)} in all)" if len(options) > SHOWN_CHOICES else "")


@dataclass(frozen=True)
class InputSpec:
    """What a node's schema declares about one widget input, as the checks read it. `kind` is the schema's io type;
    a kind other than COMBO, INT, FLOAT, BOOLEAN and STRING is a link (an upstream node's output) and not checked here."""

    name: str
    kind: str
    options: tuple = ()
    low: float | None = None
    high: float | None = None


def input_specs(schema_inputs: Iterable[Any]) -> list[InputSpec]:
    """The specs of a V3 schema's inputs (comfy_api's io.*.Input objects: `id`, `io_type`, and `options`, `min`,
    `max` where the type has them), read, not copied, so the check and the node's dropdown use one list."""
    return [InputSpec(name=item.id, kind=str(item.io_type), options=tuple(getattr(item, "options", None) or ()),
                      low=getattr(item, "min", None), high=getattr(item, "max", None))
            for item in schema_inputs]


def _is_choice(value: Any, options: tuple) -> bool:
    return any(type(value) is type(option) and value == option for option in options)  # True is no choice 1


def value_problem(spec: InputSpec, value: Any) -> str | None:
    """Why `value` is not one the schema offers for this input, or None (always None for a link input)."""
    if spec.kind == "COMBO" and not _is_choice(value, spec.options):
        if not spec.options:
            return (f"{spec.name} {shorten(value)} is not a choice: this input offers none here (its tooltip says "
                    "which files belong where; refresh the page after adding them)")
        return (f"{spec.name} {shorten(value)} is not one of its choices ({choices_text(spec.options)}): pick one in "
                "the node (a graph from another version of the pack, or written by hand, can hold a value the node "
                "does not offer)")
    if spec.kind in ("INT", "FLOAT"):
        return number_problem(value, spec.name, spec.low, spec.high, whole=spec.kind == "INT")
    if spec.kind == "BOOLEAN" and not isinstance(value, bool):
        return f"{spec.name} must be true or false (got {shorten(value)})"
    if spec.kind == "STRING" and not isinstance(value, str):
        return f"{spec.name} must be text (got {type(value).__name__})"
    return None


InputRule = Callable[[Any], "str | None"]


def inputs_problem(node: str, specs: Iterable[InputSpec], values: Mapping[str, Any],
                   rules: Mapping[str, InputRule] | None = None) -> str | None:
    """The first value in `values` (input name -> value; inputs not given are skipped) that its spec, or the
    node's own rule for that input (e.g. a name that becomes a file name), refuses: "NODE: why.", else None."""
    for spec in specs:
        if spec.name not in values:
            continue
        value = values[spec.name]
        problem = value_problem(spec, value)
        if problem is None and rules and spec.name in rules:
            problem = rules[spec.name](value)
        if problem:
            return f"{node}: {problem}."
    return None


def name_problem(name: Any) -> str | None:
    """Why `name` cannot name the ID-EA files (NAME.safetensors, NAME.idea.safetensors, NAME.state.pt), or None:
    the pack's one file-name rule (faceclip_core.files.names), as the core applies it where it writes them."""
    try:
        check_file_name(name, "ID-EA name")
    except UsageError as exc:
        return str(exc)
    return None


def require_conditioning(value: Any, node: str, input_name: str) -> list:
    """CONDITIONING: a list of [tensor, options dict] pairs, as the host's text encoders give."""
    if not isinstance(value, list) or not all(
            isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], torch.Tensor)
            and isinstance(item[1], dict) for item in value):
        raise UsageError(f"{node}: the {input_name} input is not CONDITIONING (got {type(value).__name__}). "
                         "Connect a text encoder's output (e.g. CLIP Text Encode) to it.")
    return value
