"""Which face to use when an image has several: 'largest' (default), 'score', or 'index:K' (K-th from the left)."""
from __future__ import annotations

from typing import Sequence

from ..errors import UsageError
from .faces import Face

DEFAULT_PICK = "largest"


def parse_pick(policy: str) -> tuple[str, int]:
    """('largest' | 'score' | 'index', K); K is 0 unless the policy is 'index:K'. UsageError when malformed."""
    name, _, number = policy.partition(":")
    if name in ("largest", "score") and not number:
        return name, 0
    if name == "index" and number.isdigit():
        return name, int(number)
    raise UsageError(f"Unknown face pick {policy!r}: use 'largest', 'score', or 'index:K' with K = 0 for the leftmost face.")


def pick_face(faces: Sequence[Face], policy: str = DEFAULT_PICK) -> int:
    """Index in `faces` (ordered left to right) of the face the policy chooses; faces must not be empty."""
    name, k = parse_pick(policy)
    if name == "largest":
        return max(range(len(faces)), key=lambda i: faces[i].area)
    if name == "score":
        return max(range(len(faces)), key=lambda i: faces[i].score)
    if k >= len(faces):
        raise UsageError(
            f"Face pick 'index:{k}' but the image has {len(faces)} face(s): use an index from 0 to {len(faces) - 1}, "
            "counted from the left."
        )
    return k
