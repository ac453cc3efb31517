"""ID-Sim on synthetic embeddings (the stand-in recogniser's embeddings carry no identity)."""
from __future__ import annotations

import numpy as np
import pytest

from faceclip_core.errors import UsageError
from faceclip_core.face import id_similarity


def _unit(vector):
    return vector / np.linalg.norm(vector)


def test_cosine_of_known_angles():
    rng = np.random.default_rng(0)
    reference = _unit(rng.standard_normal(512))
    orthogonal = rng.standard_normal(512)
    orthogonal = _unit(orthogonal - (orthogonal @ reference) * reference)
    at_60_degrees = 0.5 * reference + np.sqrt(0.75) * orthogonal
    result = id_similarity(reference, [reference, -reference, orthogonal, at_60_degrees])
    assert result.scores == pytest.approx((1.0, -1.0, 0.0, 0.5), abs=1e-9)
    assert result.mean == pytest.approx(0.125) and result.missing == ()


def test_unnormalised_inputs_are_normalised():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(512), rng.standard_normal(512)
    expected = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert id_similarity(a * 7.5, [b * 0.01]).scores[0] == pytest.approx(expected)
    assert id_similarity(a.astype(np.float32), [b.astype(np.float32)]).scores[0] == pytest.approx(expected, abs=1e-6)


def test_images_without_a_face_get_no_score_and_are_left_out_of_the_mean():
    reference = np.eye(512)[0]
    result = id_similarity(reference, [np.eye(512)[0], None, 0.6 * np.eye(512)[0] + 0.8 * np.eye(512)[1], None])
    assert result.scores[1] is None and result.scores[3] is None
    assert result.scores[2] == pytest.approx(0.6)
    assert result.missing == (1, 3)
    assert result.mean == pytest.approx(0.8)


def test_no_face_anywhere_gives_no_mean():
    result = id_similarity(np.ones(512), [None, None])
    assert result.mean is None and result.missing == (0, 1)


@pytest.mark.parametrize(
    "reference, embeddings, message",
    [
        (np.zeros(512), [np.ones(512)], "the reference embedding is zero"),
        (np.ones(512), [np.ones(512), np.full(512, np.nan)], "embedding 1 is zero or not finite"),
    ],
)
def test_degenerate_embeddings_are_refused(reference, embeddings, message):
    with pytest.raises(UsageError, match=message):
        id_similarity(reference, embeddings)
