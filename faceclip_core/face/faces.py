"""What face analysis returns: one `Face` per detected face, one `AnalyzedImage` per input image."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Face:
    """One face, in the pixel coordinates of the image it was found in.

    bbox: (4,) float32 x1, y1, x2, y2. kps: (5, 2) float32 landmarks (eye, eye, nose tip, mouth corner,
    mouth corner, left to right as seen in the image). score: detector confidence in [0, 1].
    crop: (S, S, 3) uint8 RGB, the face aligned to the ArcFace template scaled to S (448 by default).
    embedding: (512,) float32 of unit length from the pack's recogniser, or None if the pack has none.
    """

    bbox: np.ndarray
    kps: np.ndarray
    score: float
    crop: np.ndarray
    embedding: np.ndarray | None

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.bbox
        return float((x2 - x1) * (y2 - y1))


@dataclass(frozen=True, eq=False)
class AnalyzedImage:
    """All faces of one image, left to right, and which one the pick policy chose (None: no face found)."""

    faces: list[Face]
    picked_index: int | None

    @property
    def picked(self) -> Face | None:
        return None if self.picked_index is None else self.faces[self.picked_index]
