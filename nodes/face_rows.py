"""Rows of a FACE value, and photos without a face: what `on_no_face` does in Detect Face and the Text Encode nodes.

A FACE value is a list with one row per reference photo: the picked Face, or None where Detect Face found no face
and its on_no_face is 'text only' (that row takes the no-face path downstream). Imports without ComfyUI, so CI
tests it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from faceclip_core.errors import NoFaceError, UsageError
from faceclip_core.face import AnalyzedImage, Face

from .checks import require_faces

# The choices, in the order the nodes show them; their schemas (and input checks) use these tuples.
ON_NO_FACE = ("error", "text only", "skip")
MULTIPLE_FACES = ("first", "average", "one per face")  # appended choices keep saved workflows' values
ON_NO_FACE_TOOLTIP = ("A reference photo without a face: 'error' stops the run (as before); 'text only': that row "
                      "takes the no-face path (the prompt without identity); 'skip': that row is dropped and the "
                      "other rows keep their order. The report output names the rows.")


def _rows_text(rows: Sequence[int]) -> str:
    return ("row " if len(rows) == 1 else "rows ") + ", ".join(map(str, rows))


def detected_rows(results: Sequence[AnalyzedImage], on_no_face: str) -> tuple[list[Face | None], list[int | None], str]:
    """(the FACE rows, the row each image became (None: skipped), a report line per image) for Detect Face.

    With 'error' the analyzer has already stopped at the first image without a face."""
    rows: list[Face | None] = []
    row_of_image: list[int | None] = []
    lines = []
    for image, result in enumerate(results):
        if result.picked is None and on_no_face == "skip":
            row_of_image.append(None)
            lines.append(f"image {image}: no face found, skipped")
            continue
        row_of_image.append(len(rows))
        if result.picked is None:
            lines.append(f"image {image}: no face found, row {len(rows)} takes the no-face path (text only)")
        else:
            lines.append(f"image {image}: face {result.picked_index} of {len(result.faces)} -> row {len(rows)}")
        rows.append(result.picked)
    if not rows:
        raise NoFaceError(f"No face found in any of the {len(results)} images, and on_no_face is 'skip', so nothing is "
                          "left: use photos with a clearly visible face, or 'text only' to encode the prompt without one.")
    return rows, row_of_image, "\n".join(lines)


@dataclass(frozen=True)
class RowPlan:
    """What a Text Encode node encodes: the faces (None: no face at all), the prompts, for each prompt row the
    index of its face in `faces` (None: the no-face path), and the report."""

    faces: list[Face] | None
    prompts: list[str]
    face_index: list[int | None]
    report: str


def plan_rows(face: list | None, prompts: list[str], multiple_faces: str, on_no_face: str, node: str) -> RowPlan:
    """Which face each prompt row uses. first / average: every prompt uses the first face / the average of all;
    one per face: face row i goes with prompt i (one prompt: repeated for every face). FACE rows without a face
    (None) are an error, take the no-face path ('text only'), or are left out ('skip')."""
    if face is None:
        return RowPlan(None, prompts, [None] * len(prompts), f"{len(prompts)} prompt row(s), no face input: no-face path")
    rows = require_faces(face, node, allow_missing=True)
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing and on_no_face == "error":
        raise UsageError(f"{node}: the face input has no face in {_rows_text(missing)} (Detect Face's on_no_face passed "
                         "them on): set on_no_face here to 'text only' or 'skip', or use photos with a face.")
    present = [i for i, row in enumerate(rows) if row is not None]
    if multiple_faces == "one per face":
        return _one_per_face(rows, prompts, missing, on_no_face, node)
    if multiple_faces == "first":
        used = present[:1] if on_no_face == "skip" else ([0] if rows[0] is not None else [])
    else:
        used = present
    if not used:
        if on_no_face == "skip":
            raise UsageError(f"{node}: no row of the face input has a face and on_no_face is 'skip': nothing is left "
                             "to encode. Use 'text only' to encode the prompt without a face.")
        return RowPlan(None, prompts, [None] * len(prompts),
                       f"{_rows_text(missing)} without a face: every prompt row takes the no-face path (text only)")
    note = f"; {_rows_text(missing)} without a face {'skipped' if on_no_face == 'skip' else 'left out'}" if missing else ""
    what = f"face row {used[0]}" if multiple_faces == "first" else f"the average of face {_rows_text(used)}"
    faces = [rows[i] for i in used]
    return RowPlan(faces, prompts, [0] * len(prompts), f"{len(prompts)} prompt row(s), each with {what}{note}")


def _one_per_face(rows: list[Face | None], prompts: list[str], missing: list[int], on_no_face: str, node: str) -> RowPlan:
    if len(prompts) == 1:
        prompts = prompts * len(rows)
    elif len(prompts) != len(rows):
        raise UsageError(f"{node}: 'one per face' pairs face row i with prompt i, but there are {len(rows)} face rows "
                         f"and {len(prompts)} prompts: give one prompt, or one line per face.")
    kept = [i for i in range(len(rows)) if not (rows[i] is None and on_no_face == "skip")]
    if not kept:
        raise UsageError(f"{node}: no row of the face input has a face and on_no_face is 'skip': nothing is left to "
                         "encode. Use 'text only' to encode the prompts without a face.")
    faces = [rows[i] for i in kept if rows[i] is not None]
    face_index, lines, next_face = [], [], 0
    for out_row, i in enumerate(kept):
        if rows[i] is None:
            face_index.append(None)
            lines.append(f"row {out_row}: face row {i} has no face, no-face path (text only)")
        else:
            face_index.append(next_face)
            next_face += 1
            lines.append(f"row {out_row}: face row {i}")
    if on_no_face == "skip" and missing:
        lines.append(f"face {_rows_text(missing)} without a face skipped: {len(kept)} conditioning rows")
    return RowPlan(faces or None, [prompts[i] for i in kept], face_index, "\n".join(lines))
