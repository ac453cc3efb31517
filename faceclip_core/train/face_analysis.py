"""What data preparation needs of a face analyser, as a Protocol: any detector + aligner + recogniser fits.

The pack's insightface-style analyser (`faceclip_core.face`) is one implementation; tests use a stand-in.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from ..errors import UsageError


@dataclass
class DetectedFace:
    bbox: np.ndarray  # (4,) x1, y1, x2, y2 in image pixels
    kps: np.ndarray  # (5, 2) eyes, nose, mouth corners in image pixels
    score: float  # detection confidence in [0, 1]
    crop: np.ndarray  # (448, 448, 3) uint8 RGB, aligned to the ArcFace 5-point template scaled x4 (norm_crop)
    embedding: np.ndarray  # (D,) float ArcFace identity embedding (D = 512 for insightface packs)


class DetectsFaces(Protocol):
    """Any detector + aligner + recogniser: what data preparation and validation need of a face analyser."""

    def detect(self, image: np.ndarray) -> Sequence[DetectedFace]:
        """All faces in `image` ((H, W, 3) uint8 RGB), each aligned and embedded."""
        ...


def build_analyzer(spec: str | None, models_dir: str | Path | None, pack: str = "antelopev2",
                   providers: str = "auto") -> DetectsFaces:
    """The pack's insightface-style analyser (faceclip_core.face.FaceAnalyzer) on `models_dir`/insightface/models/`pack`,
    or, with `spec` = "MODULE:FACTORY", whatever factory() returns (an object with detect(image) -> faces)."""
    if not spec:
        if not models_dir:
            raise UsageError("A face analyser is needed: give --models-dir (in a run config: validate.models_dir), the "
                             "folder holding insightface/models/<pack>/ (e.g. ComfyUI/models), or --analyzer "
                             "MODULE:FACTORY (validate.analyzer).")
        from ..face import FaceAnalyzer as PackAnalyzer

        return PackAnalyzer(models_dir, pack=pack, providers=providers)
    module_name, _, factory = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), factory)()
    except (ImportError, AttributeError) as exc:
        raise UsageError(
            f"Cannot build the face analyser {spec!r} ({exc}). Give MODULE:FACTORY, a callable returning an "
            "object with detect(image) -> faces (see faceclip_core/train/face_analysis.py)."
        ) from exc
