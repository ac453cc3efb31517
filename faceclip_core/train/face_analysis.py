"""What data preparation needs of a face analyser, as a Protocol: any detector + aligner + recogniser fits.

The pack's insightface-style analyser (`faceclip_core.face`) is one implementation; tests use a stand-in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np


@dataclass
class DetectedFace:
    bbox: np.ndarray  # (4,) x1, y1, x2, y2 in image pixels
    kps: np.ndarray  # (5, 2) eyes, nose, mouth corners in image pixels
    score: float  # detection confidence in [0, 1]
    crop: np.ndarray  # (448, 448, 3) uint8 RGB, aligned to the ArcFace 5-point template scaled x4 (norm_crop)
    embedding: np.ndarray  # (D,) float ArcFace identity embedding (D = 512 for insightface packs)


class FaceAnalyzer(Protocol):
    def detect(self, image: np.ndarray) -> Sequence[DetectedFace]:
        """All faces in `image` ((H, W, 3) uint8 RGB), each aligned and embedded."""
        ...
