"""Identity similarity (ID-Sim): cosine similarity between a reference face's embedding and other faces'."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import UsageError


@dataclass(frozen=True)
class IdSimilarity:
    """Per-image scores in [-1, 1]; None where the image had no face (it gets no score, not a zero)."""

    scores: tuple[float | None, ...]

    @property
    def mean(self) -> float | None:
        """Mean over the images with a face, as papers report ID-Sim; None if no image had one."""
        found = [score for score in self.scores if score is not None]
        return float(np.mean(found)) if found else None

    @property
    def missing(self) -> tuple[int, ...]:
        """Indices of the images without a face."""
        return tuple(index for index, score in enumerate(self.scores) if score is None)


def id_similarity(reference: np.ndarray, embeddings: Sequence[np.ndarray | None]) -> IdSimilarity:
    """Cosine similarity of `reference` (D,) to each embedding (D,), None entries standing for "no face"."""
    ref = _unit(reference, "the reference embedding")
    scores = tuple(
        None if embedding is None else float(ref @ _unit(embedding, f"embedding {index}"))
        for index, embedding in enumerate(embeddings)
    )
    return IdSimilarity(scores)


def _unit(vector: np.ndarray, what: str) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64).reshape(-1)
    norm = np.linalg.norm(vector)
    if not np.isfinite(norm) or norm == 0:
        raise UsageError(f"Cannot compare faces: {what} is zero or not finite. Embed a real face (a pack with a recogniser).")
    return vector / norm
