"""SCRFD face detector (the detector of insightface's antelopev2 and buffalo_l packs) on onnxruntime.

Model contract: input [1, 3, H, W] RGB normalised as (pixel - 127.5) / 128; outputs, per stride s of
8, 16, 32 (and 64, 128 for 5-level models): scores [N, 1], boxes [N, 4] and landmarks [N, 10], each
in units of s relative to the anchor centre (x * s, y * s); ordered all scores, all boxes, all landmarks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

SCORE_THRESHOLD = 0.5
NMS_IOU = 0.4


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, in its pixel coordinates, most confident first."""

    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2
    scores: np.ndarray  # (N,)
    kps: np.ndarray  # (N, 5, 2) eyes, nose, mouth corners as seen in the image, left to right


def is_detector(session: Any) -> bool:
    """Whether a session has the SCRFD-with-landmarks output layout (3 outputs per stride level)."""
    return len(session.get_outputs()) in (9, 15)


class ScrfdDetector:
    def __init__(self, session: Any, det_size: int) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        height, width = session.get_inputs()[0].shape[2:]
        # A model exported at a fixed size ignores det_size; a dynamic one runs at det_size.
        self.canvas = (
            (width, height) if isinstance(width, int) and isinstance(height, int) else (det_size, det_size)
        )
        levels = len(session.get_outputs()) // 3
        self.strides = (8, 16, 32, 64, 128)[:levels]

    def detect(self, image: np.ndarray, fill: float = 1.0) -> Detections:
        """Faces in an (H, W, 3) uint8 RGB image, scaled to fill `fill` of the model's input canvas."""
        canvas_w, canvas_h = self.canvas
        height, width = image.shape[:2]
        scale = fill * min(canvas_w / width, canvas_h / height)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        blob = np.zeros((canvas_h, canvas_w, 3), dtype=np.float32)  # black letterbox, as the model was trained
        blob[:new_h, :new_w] = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
        blob = ((blob - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outputs = self.session.run(None, {self.input_name: blob})
        boxes, scores, kps = self._decode(outputs)
        keep = _nms(boxes, scores, NMS_IOU)
        factors = np.array([new_w / width, new_h / height])
        return Detections(
            boxes=boxes[keep] / np.tile(factors, 2),
            scores=scores[keep],
            kps=kps[keep].reshape(-1, 5, 2) / factors,
        )

    def _decode(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        levels = len(self.strides)
        canvas_w, canvas_h = self.canvas
        all_boxes, all_scores, all_kps = [], [], []
        for level, stride in enumerate(self.strides):
            # Some exports keep a batch axis of 1; the layout is otherwise the same.
            scores, boxes, kps = (outputs[level + k * levels].reshape(-1, d) for k, d in ((0, 1), (1, 4), (2, 10)))
            grid_h, grid_w = canvas_h // stride, canvas_w // stride
            anchors_per_cell = len(scores) // (grid_h * grid_w)
            ys, xs = np.mgrid[0:grid_h, 0:grid_w]
            centres = np.repeat(np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride, anchors_per_cell, axis=0)
            found = scores[:, 0] >= SCORE_THRESHOLD
            centres, boxes, kps = centres[found], boxes[found] * stride, kps[found] * stride
            all_boxes.append(np.hstack([centres - boxes[:, :2], centres + boxes[:, 2:]]))
            all_kps.append(np.tile(centres, 5) + kps)
            all_scores.append(scores[found, 0])
        return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_kps)


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_limit: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, most confident first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while len(order):
        best, rest = order[0], order[1:]
        keep.append(best)
        top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        overlap = np.prod((bottom_right - top_left).clip(min=0), axis=1)
        iou = overlap / (areas[best] + areas[rest] - overlap)
        order = rest[iou <= iou_limit]
    return np.array(keep, dtype=np.int64)
