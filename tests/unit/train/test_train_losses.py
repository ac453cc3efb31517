"""Stage-1 losses against hand-computed 3x3 examples, same-identity masking, retrieval accuracy, config errors."""
from __future__ import annotations

import math

import pytest
import torch

from faceclip_core.errors import UsageError
from faceclip_core.train.config import Stage1Config, from_dict, load_config
from faceclip_core.train.extras import require
from faceclip_core.train.losses import same_identity_pairs, sigmoid_loss, softmax_loss
from faceclip_core.train.validation import retrieval_top1

# p_i . q_j = S[i, j] = [[1, .6, 0], [0, .8, 0], [0, 0, 1]]; exp(scale) = 2, bias = -1
P = torch.eye(3)
Q = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])
SCALE, BIAS = torch.tensor(math.log(2.0)), torch.tensor(-1.0)


def softplus(x: float) -> float:
    return math.log(1 + math.exp(x))


# logits 2S - 1 = [[1, .2, -1], [-1, .6, -1], [-1, -1, 1]]; a positive costs softplus(-l), a negative softplus(l)
SIGMOID_TERMS = {
    (0, 0): softplus(-1.0), (1, 1): softplus(-0.6), (2, 2): softplus(-1.0),
    (0, 1): softplus(0.2), (0, 2): softplus(-1.0), (1, 0): softplus(-1.0),
    (1, 2): softplus(-1.0), (2, 0): softplus(-1.0), (2, 1): softplus(-1.0),
}


def test_sigmoid_loss_equals_hand_computed_3x3():
    expected = sum(SIGMOID_TERMS.values()) / 3
    assert expected == pytest.approx(1.142820, abs=1e-6)
    assert sigmoid_loss(P, Q, SCALE, BIAS).item() == pytest.approx(expected, abs=1e-6)


def test_softmax_loss_equals_hand_computed_3x3():
    # logits 2S (no bias): rows [2, 1.2, 0], [0, 1.6, 0], [0, 0, 2]; columns [2, 0, 0], [1.2, 1.6, 0], [0, 0, 2]
    e = math.exp
    rows = [-2 + math.log(e(2) + e(1.2) + 1), -1.6 + math.log(2 + e(1.6)), -2 + math.log(2 + e(2))]
    cols = [-2 + math.log(e(2) + 2), -1.6 + math.log(e(1.2) + e(1.6) + 1), -2 + math.log(2 + e(2))]
    expected = (sum(rows) / 3 + sum(cols) / 3) / 2
    assert softmax_loss(P, Q, SCALE, BIAS).item() == pytest.approx(expected, abs=1e-6)


def test_same_identity_pairs_are_masked_as_negatives():
    identity = torch.tensor([7, 7, 9])
    exclude = same_identity_pairs(identity)
    assert exclude.tolist() == [[False, True, False], [True, False, False], [False, False, False]]
    kept = {k: v for k, v in SIGMOID_TERMS.items() if k not in ((0, 1), (1, 0))}
    assert sigmoid_loss(P, Q, SCALE, BIAS, exclude).item() == pytest.approx(sum(kept.values()) / 3, abs=1e-6)
    # softmax: the other photo of the same person leaves both the row's and the column's denominator
    e = math.exp
    rows = [-2 + math.log(e(2) + 1), -1.6 + math.log(1 + e(1.6)), -2 + math.log(2 + e(2))]
    cols = [-2 + math.log(e(2) + 1), -1.6 + math.log(e(1.6) + 1), -2 + math.log(2 + e(2))]
    assert softmax_loss(P, Q, SCALE, None, exclude).item() == pytest.approx((sum(rows) + sum(cols)) / 6, abs=1e-6)
    # distinct people: nothing masked
    assert not same_identity_pairs(torch.tensor([1, 2, 3])).any()


def test_retrieval_top1_counts_nearest_neighbour_of_the_same_person():
    embeddings = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1], [1.0, 0.0], [0.0, 1.0], [0.1, 1.0], [0.7, 0.7]]), dim=-1)
    identity = torch.tensor([0, 0, 1, 1, 2])  # identity 2 has one photo: not a query
    assert retrieval_top1(embeddings, identity) == 1.0
    assert retrieval_top1(embeddings, torch.tensor([0, 1, 0, 1, 2])) == 0.0


def test_config_typo_says_did_you_mean(tmp_path):
    with pytest.raises(UsageError, match=r"Unknown config key 'loss.face_weigth'. Did you mean 'face_weight'\?"):
        from_dict(Stage1Config, {"loss": {"face_weigth": 1.0}})
    with pytest.raises(UsageError, match=r"'loss.kind' = 'sigmod' is not one of sigmoid, softmax. Did you mean 'sigmoid'\?"):
        from_dict(Stage1Config, {"loss": {"kind": "sigmod"}})
    with pytest.raises(UsageError, match=r"'run.steps' must be int"):
        from_dict(Stage1Config, {"run": {"steps": "ten"}})
    with pytest.raises(UsageError, match="does not exist"):
        load_config(tmp_path / "missing.toml", Stage1Config)


def test_relative_paths_are_relative_to_the_config(tmp_path):
    (tmp_path / "run.toml").write_text('[data]\ntrain = "shards/train"\n')
    cfg = load_config(tmp_path / "run.toml", Stage1Config)
    assert cfg.data.train == str(tmp_path / "shards" / "train")
    assert cfg.run.out == str(tmp_path / "runs" / "faceclip")


def test_missing_extra_says_how_to_install():
    with pytest.raises(UsageError, match=r"pip install -r requirements-train.txt"):
        require("a_package_that_is_not_installed", "Testing")
