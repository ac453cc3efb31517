"""Loading the detector and recogniser of a pack folder, recognised by their inputs and outputs."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import ModelPackError
from .detector import ScrfdDetector, is_detector
from .packs import PACK_FILES
from .recognizer import ArcFaceRecognizer, is_recognizer


def load_face_models(
    folder: Path, pack: str, open_model: Callable[[Path], Any], det_size: int
) -> tuple[ScrfdDetector, ArcFaceRecognizer | None]:
    """The pack's detector and, when it has one, its recogniser, opened by `open_model` (see engines.py).
    The pack's other models are never loaded."""
    known = PACK_FILES.get(pack, ())[:2]
    # The pack's known detector and recogniser files first, so the other models are not even opened.
    candidates = sorted(folder.glob("*.onnx"), key=lambda path: (path.name not in known, path.name))
    detector = recognizer = None
    for path in candidates:
        session = open_model(path)
        if detector is None and is_detector(session):
            detector = ScrfdDetector(session, det_size)
        elif recognizer is None and is_recognizer(session):
            recognizer = ArcFaceRecognizer(session)
        if detector and recognizer:
            break
    if detector is None:
        names = ", ".join(path.name for path in candidates)
        raise ModelPackError(
            f"No face detector in {folder} (found: {names}). A pack needs an SCRFD detector with landmarks, "
            f"such as {PACK_FILES['antelopev2'][0]} or {PACK_FILES['buffalo_l'][0]}: download the pack again."
        )
    return detector, recognizer
