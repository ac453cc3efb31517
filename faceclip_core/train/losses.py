"""Contrastive losses between two sets of L2-normalised embeddings whose row i match (the diagonal).

`exclude` marks off-diagonal pairs that must not count as negatives (two photos of the same person).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def same_identity_pairs(identity: torch.Tensor) -> torch.Tensor:
    """(N,) identity ids -> (N, N) bool: off-diagonal pairs of the same person (false negatives)."""
    same = identity[:, None] == identity[None, :]
    return same & ~torch.eye(len(identity), dtype=torch.bool, device=identity.device)


def sigmoid_loss(
    p: torch.Tensor, q: torch.Tensor, logit_scale: torch.Tensor, logit_bias: torch.Tensor, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """SigLIP: -(1/N) sum_ij log sigmoid(label_ij * (exp(scale) p_i.q_j + bias)), label +1 on the diagonal, -1 elsewhere."""
    logits = logit_scale.exp() * p @ q.T + logit_bias
    labels = 2 * torch.eye(len(p), device=p.device, dtype=logits.dtype) - 1
    terms = -F.logsigmoid(labels * logits)
    if exclude is not None:
        terms = terms.masked_fill(exclude, 0.0)
    return terms.sum() / len(p)


def softmax_loss(
    p: torch.Tensor, q: torch.Tensor, logit_scale: torch.Tensor, logit_bias: torch.Tensor | None = None,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """CLIP's symmetric InfoNCE on exp(scale) p.q^T (no bias: it cancels in a softmax); excluded pairs get -inf."""
    logits = logit_scale.exp() * p @ q.T
    if exclude is not None:
        logits = logits.masked_fill(exclude, float("-inf"))
    target = torch.arange(len(p), device=p.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


LOSSES = {"sigmoid": sigmoid_loss, "softmax": softmax_loss}
