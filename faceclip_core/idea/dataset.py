"""Training photos -> cached latents (each photo and its mirror image) and the face embedding of each."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..errors import NoFaceError, UsageError
from .interfaces import FaceEmbedder, LatentEncoder

MIN_IMAGES = 2


@dataclass(frozen=True)
class TrainingSet:
    """latents (M, 4, h, w) on the CPU; faces (M, 512) unit length, row i the face of latents[i]."""

    latents: torch.Tensor
    faces: torch.Tensor

    @property
    def mean_face(self) -> torch.Tensor:
        """The identity used at inference: the normalised mean of the photos' face embeddings."""
        return F.normalize(self.faces.mean(0), dim=0)


def check_photo_count(count: int, where: str = "") -> None:
    """UsageError unless there are at least MIN_IMAGES photos; `where` says where they were looked for."""
    if count < MIN_IMAGES:
        raise UsageError(f"ID-EA learns an identity from at least {MIN_IMAGES} photos of the person; got {count}{where}. "
                         "Add more photos (3 to 10 with different poses, lighting and backgrounds work best).")


def square_crop(image: torch.Tensor, resolution: int) -> torch.Tensor:
    """(H, W, 3) in [0, 1] -> (3, resolution, resolution): centre square, resized with antialiasing."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    chw = image[top : top + side, left : left + side].permute(2, 0, 1).float().unsqueeze(0)
    return F.interpolate(chw, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)


def face_embeddings(images: Sequence[torch.Tensor], embedder: FaceEmbedder, labels: Sequence[str]) -> torch.Tensor:
    """(N, 512) unit-length ArcFace embeddings; the first photo without a face raises NoFaceError naming it."""
    rows = []
    for image, label in zip(images, labels):
        embedding = embedder(image)
        if embedding is None:
            raise NoFaceError(f"No face found in training photo {label}. Remove it, or replace it with a photo where "
                                "the face is clearly visible, roughly frontal and at least about 32 px tall.")
        rows.append(F.normalize(torch.as_tensor(embedding, dtype=torch.float32).flatten(), dim=0))
    return torch.stack(rows)


def analyzer_face_embedder(analyzer: Any) -> FaceEmbedder:
    """faceclip_core.face.FaceAnalyzer (analyze(images, require_face=False) -> [AnalyzedImage]) as a FaceEmbedder."""
    def embed(image: torch.Tensor) -> torch.Tensor | None:
        picked = analyzer.analyze(image.unsqueeze(0), require_face=False)[0].picked
        return None if picked is None or picked.embedding is None else torch.from_numpy(picked.embedding)
    return embed


def prepare_training_set(
    images: Sequence[torch.Tensor],
    embedder: FaceEmbedder,
    encode_latents: LatentEncoder,
    resolution: int,
    labels: Sequence[str] | None = None,
) -> TrainingSet:
    """images: (H, W, 3) in [0, 1], sizes may differ. labels name them in errors (default: their index)."""
    labels = list(labels) if labels is not None else [f"#{i} of {len(images)}" for i in range(len(images))]
    check_photo_count(len(images))
    faces = face_embeddings(images, embedder, labels)
    latents = []
    with torch.no_grad():
        for image in images:
            pixels = square_crop(image, resolution)
            # the mirror image is the same person: a free second view, encoded once here instead of every step
            latents.append(encode_latents(torch.stack([pixels, pixels.flip(-1)])).float().cpu())
    return TrainingSet(torch.cat(latents), faces.repeat_interleave(2, dim=0))
