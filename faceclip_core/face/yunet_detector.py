"""The built-in face detector: YuNet (yunet.py) on the host's torch device, with OpenCV's decoding for it.

Same interface as the packs' SCRFD detector (detector.py): faces of an RGB image scaled into a black-letterboxed
640 px canvas, as boxes, scores and 5 landmarks in the image's pixels. Nothing here needs onnxruntime or OpenCV.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .align import align_face
from .detector import Detections
from .engines import torch_device
from .yunet import STRIDES, WEIGHTS_FILE, load_yunet

CANVAS = 640  # the input side YuNet was exported (and is run by OpenCV's demo) at
SCORE_THRESHOLD = 0.7  # faces in the tests score 0.78 to 0.94; non-faces (scikit-image coffee) up to 0.64
NMS_IOU = 0.3  # OpenCV FaceDetectorYN's default
# Landmarks are refined on each face's aligned crop, shown at five sizes from half the canvas to all of it: YuNet's
# landmarks move by a few pixels with the face's size, and their mean over the sizes is closer to FaceCLIP's own
# aligned faces than any single size (README, Face analysis).
REFINE_CROP, REFINE_FILLS = 448, (0.5, 0.625, 0.75, 0.875, 1.0)
MIRRORED = [1, 0, 2, 4, 3]  # landmark order in a mirror image: the eyes and the mouth corners swap


class YuNetDetector:
    def __init__(self, device: torch.device | str | None = None, weights: str | Path = WEIGHTS_FILE,
                 det_size: int = CANVAS) -> None:
        self.device = torch_device("auto", device)
        self.model = load_yunet(weights, self.device)
        self.canvas = det_size

    def letterbox(self, image: np.ndarray, fill: float = 1.0, side: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """The (1, 3, side, side) BGR canvas the network sees (side: the detector's canvas unless given; at least
        `fill` of it), the image's longer side scaled to `fill` of the detector's canvas at the top left on black (as
        OpenCV pads), and the (x, y) factors from image to canvas pixels."""
        height, width = image.shape[:2]
        side = side or self.canvas
        scale = fill * self.canvas / max(width, height)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).to(self.device).permute(2, 0, 1)[None].float()
        resized = F.interpolate(pixels, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
        bgr = torch.zeros(1, 3, side, side, device=self.device)
        bgr[:, :, :new_h, :new_w] = resized.flip(1).clamp(0, 255)
        return bgr, torch.tensor([new_w / width, new_h / height], device=self.device)

    @torch.inference_mode()
    def detect(self, image: np.ndarray, fill: float = 1.0) -> Detections:
        """Faces in an (H, W, 3) uint8 RGB image, scaled to fill `fill` of the detector's input canvas."""
        bgr, factors = self.letterbox(image, fill)
        boxes, scores, kps = decode(self.model(bgr), self.canvas)
        keep = nms(boxes, scores, NMS_IOU)
        kps = (kps[keep] / factors).cpu().numpy()
        return Detections(
            boxes=(boxes[keep] / factors.repeat(2)).cpu().numpy(),
            scores=scores[keep].cpu().numpy(),
            kps=np.stack([self.refine(image, points) for points in kps]) if len(kps) else kps,
        )

    @torch.inference_mode()
    def refine(self, image: np.ndarray, kps: np.ndarray) -> np.ndarray:
        """The landmarks found again on the face's own aligned crop, at several sizes and mirrored, averaged, in image
        pixels.

        A first pass sees a face at whatever size the photo gives; the crop puts every face upright at known sizes,
        and the mirror image halves the remaining left/right bias. Falls back to `kps` if no view finds the face.
        """
        crop, matrix = align_face(image, kps, REFINE_CROP)
        mirror = np.ascontiguousarray(crop[:, ::-1])
        found = []
        for fill in REFINE_FILLS:
            # the smallest canvas (a multiple of the coarsest stride) that holds the crop at this size: a full canvas
            # of black around the smaller views tripled the time and brought the landmarks no closer (README)
            side = -(-round(fill * self.canvas) // STRIDES[-1]) * STRIDES[-1]
            (crop_bgr, factors), (mirror_bgr, _) = (self.letterbox(view, fill, side) for view in (crop, mirror))
            outputs = self.model(torch.cat([crop_bgr, mirror_bgr]))
            for index in range(2):
                _, scores, points = decode({name: [level[index:index + 1] for level in levels]
                                            for name, levels in outputs.items()}, side)
                if not len(scores):
                    continue
                points = (points[scores.argmax()] / factors).cpu().numpy().astype(np.float64)
                if index:  # back from the mirror image: x -> W - 1 - x (pixel centres), left and right swapped
                    points = np.stack([REFINE_CROP - 1 - points[:, 0], points[:, 1]], axis=1)[MIRRORED]
                found.append(points)
        if not found:
            return kps
        inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
        return np.mean(found, axis=0) @ inverse[:, :2].T + inverse[:, 2]


def decode(outputs: dict[str, list[torch.Tensor]], canvas: int, threshold: float = SCORE_THRESHOLD
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(boxes (N, 4) x1 y1 x2 y2, scores (N,), landmarks (N, 5, 2)) in canvas pixels, for cells scoring >= threshold.

    Per cell (row r, column c) of stride s, as OpenCV's FaceDetectorYN: score = sqrt(cls * obj), box centre
    (c + dx, r + dy) * s and size exp(dw, dh) * s, landmark k at (c + kx, r + ky) * s. Batch item 0 only.
    """
    all_boxes, all_scores, all_kps = [], [], []
    for level, stride in enumerate(STRIDES):
        cells = canvas // stride
        rows, cols = torch.meshgrid(torch.arange(cells), torch.arange(cells), indexing="ij")
        cell = torch.stack([cols, rows], dim=-1).reshape(-1, 2).to(outputs["bbox"][level])
        scores = (outputs["cls"][level][0, :, 0].clamp(0, 1) * outputs["obj"][level][0, :, 0].clamp(0, 1)).sqrt()
        found = scores >= threshold
        cell, box, points = cell[found], outputs["bbox"][level][0, found], outputs["kps"][level][0, found]
        centre, size = (cell + box[:, :2]) * stride, box[:, 2:].exp() * stride
        all_boxes.append(torch.cat([centre - size / 2, centre + size / 2], dim=1))
        all_kps.append((cell[:, None] + points.reshape(-1, 5, 2)) * stride)
        all_scores.append(scores[found])
    return torch.cat(all_boxes), torch.cat(all_scores), torch.cat(all_kps)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_limit: float) -> torch.Tensor:
    """Indices of the boxes kept by greedy non-maximum suppression, most confident first."""
    order = scores.argsort(descending=True, stable=True)
    boxes = boxes[order]
    areas = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(dim=1)
    overlap = (torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
               - torch.maximum(boxes[:, None, :2], boxes[None, :, :2])).clamp(min=0).prod(dim=2)
    iou = (overlap / (areas[:, None] + areas[None, :] - overlap).clamp(min=1e-9)).cpu()
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for index in range(len(order)):
        if not suppressed[index]:
            keep.append(index)
            suppressed |= iou[index] > iou_limit
    return order[torch.tensor(keep, dtype=torch.long, device=order.device)]
