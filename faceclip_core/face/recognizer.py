"""ArcFace recogniser (glintr100 in antelopev2, w600k_r50 in buffalo_l) on onnxruntime.

Model contract: input [N, 3, 112, 112], the face aligned to the ArcFace template, RGB normalised as
(pixel - 127.5) / 127.5; output [N, D] (D = 512), compared by cosine similarity.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .align import align_face

ARCFACE_SIZE = 112


def is_recognizer(session: Any) -> bool:
    """Whether a session takes ArcFace-sized crops and returns one vector per face."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    return (
        len(inputs) == 1
        and len(outputs) == 1
        and list(inputs[0].shape[1:]) == [3, ARCFACE_SIZE, ARCFACE_SIZE]
        and len(outputs[0].shape) == 2
    )


class ArcFaceRecognizer:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.fixed_batch = isinstance(session.get_inputs()[0].shape[0], int)

    def embed(self, image: np.ndarray, kps: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) unit-length embeddings of the faces with landmarks kps in an (H, W, 3) uint8 RGB image."""
        crops = np.stack([align_face(image, points, ARCFACE_SIZE)[0] for points in kps]).astype(np.float32)
        blob = ((crops - 127.5) / 127.5).transpose(0, 3, 1, 2)
        if self.fixed_batch:  # an export with batch size 1: one face per run
            raw = np.concatenate([self.session.run(None, {self.input_name: face[None]})[0] for face in blob])
        else:
            raw = self.session.run(None, {self.input_name: blob})[0]
        return raw / np.linalg.norm(raw, axis=1, keepdims=True)
