"""The textual ID anchor: well-known people's names as token embeddings, their statistics, and cross initialisation."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UsageError
from .interfaces import PromptEncoder

NAMES_FILE = Path(__file__).parent / "data" / "names.txt"
_VARIANCE_FLOOR = 1e-6  # keeps the Mahalanobis distance finite along dimensions where every name agrees


def load_names(path: str | Path = NAMES_FILE) -> list[str]:
    """One name a line; blank lines and lines starting with '#' are skipped."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@dataclass(frozen=True)
class AnchorBank:
    """embeddings (N, 768 + 1280): each name's mean token embedding in CLIP-L, then in CLIP-G."""

    embeddings: torch.Tensor
    width_l: int

    @classmethod
    def from_names(cls, names: list[str], encoder: PromptEncoder) -> "AnchorBank":
        table_l, table_g = encoder.embedding_tables()
        rows = []
        for name in names:
            ids_l, ids_g = encoder.token_ids(name)
            if ids_l and ids_g:
                rows.append(torch.cat([table_l[ids_l].float().mean(0), table_g[ids_g].float().mean(0)]))
        if len(rows) < 2:
            raise UsageError(f"The anchor needs at least 2 names that the tokenizer can read; got {len(rows)} of {len(names)}. "
                             f"Use the shipped list ({NAMES_FILE}).")
        return cls(torch.stack(rows).detach().cpu(), table_l.shape[1])

    @property
    def mean(self) -> torch.Tensor:
        return self.embeddings.mean(0)

    @property
    def variance(self) -> torch.Tensor:
        return self.embeddings.var(0).clamp_min(_VARIANCE_FLOOR)

    def initial_tokens(self, num_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross initialisation: every new token starts at the anchor's centre, (n, 768) and (n, 1280)."""
        start = self.mean.unsqueeze(0).repeat(num_tokens, 1)
        return start[:, : self.width_l].contiguous(), start[:, self.width_l :].contiguous()

    def mahalanobis(self, tokens: torch.Tensor) -> torch.Tensor:
        """Mean squared Mahalanobis distance per dimension of tokens (n, D) from the anchor (diagonal covariance).

        Diagonal, because a few hundred names cannot estimate a full 2048x2048 covariance; per dimension, so
        the regulariser's weight does not depend on the text width.
        """
        mean, variance = self.mean.to(tokens), self.variance.to(tokens)
        return ((tokens - mean) ** 2 / variance).mean()
