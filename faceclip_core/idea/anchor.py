"""The textual ID anchor: well-known people's names, read through the text encoders, as the start, the centre of the
regulariser and the keys of the ID-Enhancer.

Cross initialisation as the authors' code computes it (`celeb_names_cross_init` in Whslee/ID-EA): token i of every
name (for two tokens: roughly the first name and the last name) is averaged over the names, the averaged token
embeddings are put into a prompt and passed through the text encoders, and the encoders' output states at those
positions are the anchor. Those states live where the UNet reads the text context, which is where learned
identity tokens drift to (the observation behind Cross Initialization, Pang et al. 2024).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UsageError
from .interfaces import PLACEHOLDER, PromptEncoder

NAMES_FILE = Path(__file__).parent / "data" / "names.txt"
# The authors' regulariser adds zeta = 2e-5 to the diagonal of the anchor's covariance before inverting it.
COVARIANCE_RIDGE = 2e-5
_DISTANCE_FLOOR = 1e-8  # the authors clamp the squared distance here before the square root (finite gradient at 0)


def load_names(path: str | Path = NAMES_FILE) -> list[str]:
    """One name a line; blank lines and lines starting with '#' are skipped."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def name_columns(names: list[str], encoder: PromptEncoder, num_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean token embedding of the i-th BPE token of every name that has one, i < num_tokens: (n, 768), (n, 1280)."""
    table_l, table_g = encoder.embedding_tables()
    columns: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = [([], []) for _ in range(num_tokens)]
    for name in names:
        ids_l, ids_g = encoder.token_ids(name)
        for i, (id_l, id_g) in enumerate(zip(ids_l[:num_tokens], ids_g[:num_tokens])):
            columns[i][0].append(table_l[id_l].float())
            columns[i][1].append(table_g[id_g].float())
    short = [i for i, (rows, _) in enumerate(columns) if len(rows) < 2]
    if short:
        raise UsageError(f"The anchor needs at least 2 names with {short[0] + 1} or more tokens; the list has "
                         f"{len(columns[short[0]][0])} of {len(names)}. Use the shipped list ({NAMES_FILE}).")
    return tuple(torch.stack([torch.stack(rows).mean(0) for rows in part]) for part in zip(*columns))  # type: ignore[return-value]


@dataclass(frozen=True)
class AnchorBank:
    """embeddings (n, 768 + 1280): the textual ID anchor, one row per learned token (CLIP-L part, then CLIP-G).

    Files written before cross initialisation hold one row per name instead (the enhancer attends over whatever
    rows the file has, so they still apply as trained).
    """

    embeddings: torch.Tensor
    width_l: int

    @classmethod
    def from_names(cls, names: list[str], encoder: PromptEncoder, num_tokens: int = 2) -> "AnchorBank":
        table_l, table_g = encoder.embedding_tables()
        columns_l, columns_g = name_columns(names, encoder, num_tokens)
        with torch.no_grad():
            # a prompt that is only the placeholder puts its rows right after the start token; the encoders are
            # causal, so those positions' states depend on nothing after them (end token, padding)
            context, _ = encoder.encode([PLACEHOLDER], columns_l.to(table_l), columns_g.to(table_g))
        return cls(context[0, 1 : 1 + num_tokens].detach().float().cpu(), table_l.shape[1])

    def initial_tokens(self, num_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross initialisation: token i starts at anchor row i, as (n, 768) and (n, 1280)."""
        if num_tokens != len(self.embeddings):
            raise UsageError(f"The anchor was built for {len(self.embeddings)} tokens, the training for {num_tokens}. "
                             f"Build it with AnchorBank.from_names(names, encoder, num_tokens={num_tokens}).")
        return self.embeddings[:, : self.width_l].clone(), self.embeddings[:, self.width_l :].clone()

    def distance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Mean over tokens (n, D) of the Mahalanobis distance of token i from anchor row i (not squared).

        As the authors' regulariser: covariance of the anchor rows plus COVARIANCE_RIDGE on its diagonal. It has
        rank n - 1, so the distance is the drift divided by sqrt(ridge) orthogonally to the rows' span, and by
        sqrt(variance + ridge) along each of its principal directions; computed from that eigen-decomposition (exact, and no D x D inverse).
        """
        directions, variances = self._covariance_eigen()
        delta = (tokens - self.embeddings.to(tokens)).double()
        along = delta @ directions.to(delta.device).T  # (n, r)
        across = delta - along @ directions.to(delta.device)
        squared = (along**2 / (variances.to(delta.device) + COVARIANCE_RIDGE)).sum(-1) + (across**2).sum(-1) / COVARIANCE_RIDGE
        return squared.clamp_min(_DISTANCE_FLOOR).sqrt().mean().to(tokens.dtype)

    def _covariance_eigen(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit eigenvectors (r, D) and eigenvalues (r,) of the anchor rows' sample covariance, zero ones dropped."""
        rows = self.embeddings.double()
        if len(rows) < 2:  # one row has no spread (the authors' torch.cov would give NaN)
            return rows.new_zeros(0, rows.shape[1]), rows.new_zeros(0)
        _, singular, directions = torch.linalg.svd(rows - rows.mean(0), full_matrices=False)
        keep = singular > singular.max() * 1e-12
        return directions[keep], singular[keep] ** 2 / (len(rows) - 1)
