"""The textual ID anchor: cross initialisation and the regulariser, each against a small case computed by hand."""
from __future__ import annotations

import math
from typing import Sequence

import pytest
import torch

from faceclip_core.errors import UsageError
from faceclip_core.idea import PLACEHOLDER, AnchorBank
from faceclip_core.idea.anchor import COVARIANCE_RIDGE

WORDS = ["ann", "lee", "bob", "cy", "dee", "eve"]


class LookupEncoder:
    """A PromptEncoder whose 'text encoder' is start + rows + end, mapped through 2x+1 (L) and x-1 (G) per
    position, so what the anchor reads at positions 1..n can be written down by hand."""

    def __init__(self):
        # word k: CLIP-L row (k, 10k), CLIP-G row (-k,); ids 0/1 are start/end
        self.table_l = torch.tensor([[0.0, 0.0], [0.0, 0.0]] + [[k, 10.0 * k] for k in range(1, 7)])
        self.table_g = torch.tensor([[0.0], [0.0]] + [[-float(k)] for k in range(1, 7)])
        self.prompts: list[str] = []

    def embedding_tables(self):
        return self.table_l, self.table_g

    def token_ids(self, text: str):
        ids = [2 + WORDS.index(w) for w in text.split()]
        return ids, ids

    def encode(self, prompts: Sequence[str], tokens_l: torch.Tensor, tokens_g: torch.Tensor):
        self.prompts += prompts
        assert list(prompts) == [PLACEHOLDER]
        rows_l = torch.cat([self.table_l[[0]], tokens_l, self.table_l[[1]]])
        rows_g = torch.cat([self.table_g[[0]], tokens_g, self.table_g[[1]]])
        return torch.cat([2 * rows_l + 1, rows_g - 1], dim=-1)[None], torch.zeros(1, 1)


def test_cross_initialisation_averages_each_token_column_and_passes_it_through_the_encoders():
    encoder = LookupEncoder()
    # columns: first tokens ann(1), bob(3), cy(4) -> mean 8/3; second tokens lee(2), dee(5) -> 3.5 (bob has none)
    anchor = AnchorBank.from_names(["ann lee", "bob", "cy dee eve"], encoder, num_tokens=2)
    first, second = 8 / 3, 3.5
    expected = torch.tensor([[2 * first + 1, 20 * first + 1, -first - 1],
                             [2 * second + 1, 20 * second + 1, -second - 1]])
    torch.testing.assert_close(anchor.embeddings, expected)
    assert encoder.prompts == [PLACEHOLDER]
    tokens_l, tokens_g = anchor.initial_tokens(2)
    torch.testing.assert_close(torch.cat([tokens_l, tokens_g], dim=1), expected)


def test_a_token_column_without_two_names_is_refused():
    with pytest.raises(UsageError, match="at least 2 names with 2 or more tokens"):
        AnchorBank.from_names(["ann lee", "bob"], LookupEncoder(), num_tokens=2)


def test_regulariser_is_the_square_root_of_the_mahalanobis_distance_under_the_anchor_covariance():
    # anchor rows (1, 0) and (-1, 0): covariance [[2, 0], [0, 0]], plus the ridge on the diagonal
    anchor = AnchorBank(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), width_l=1)
    tokens = torch.tensor([[1.3, 0.0], [-1.0, 0.01]])  # drift 0.3 along the anchor's spread, 0.01 across it
    by_hand = (0.3 / math.sqrt(2 + COVARIANCE_RIDGE) + 0.01 / math.sqrt(COVARIANCE_RIDGE)) / 2
    assert anchor.distance(tokens).item() == pytest.approx(by_hand, rel=1e-6)


def test_regulariser_equals_the_authors_pseudo_inverse_formula():
    g = torch.Generator().manual_seed(0)
    rows, tokens = torch.randn(2, 8, generator=g), torch.randn(2, 8, generator=g) * 0.1
    tokens = tokens + rows
    # written as their script does: pinv(cov(anchor) + zeta*I), diagonal of delta S^-1 delta^T, sqrt, mean
    inverse = torch.linalg.pinv(torch.cov(rows.double().T) + COVARIANCE_RIDGE * torch.eye(8, dtype=torch.float64))
    delta = (tokens - rows).double()
    expected = torch.diagonal(delta @ inverse @ delta.T).clamp_min(1e-8).sqrt().mean()
    assert AnchorBank(rows, width_l=3).distance(tokens).item() == pytest.approx(expected.item(), rel=1e-6)


def test_regulariser_pulls_back_with_a_gradient_and_is_flat_at_the_anchor():
    anchor = AnchorBank(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), width_l=1)
    tokens = anchor.embeddings.clone().requires_grad_()
    anchor.distance(tokens).backward()
    assert torch.count_nonzero(tokens.grad) == 0  # the authors' clamp: no push at the start
    moved = (anchor.embeddings + torch.tensor([[0.0, 0.1], [0.0, 0.0]])).requires_grad_()
    anchor.distance(moved).backward()
    assert moved.grad[0, 1] > 0 and moved.grad[1].abs().max() == 0
