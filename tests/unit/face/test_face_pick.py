"""Choosing one face among several: each policy on a real two-face photo, and malformed policies."""
from __future__ import annotations

import numpy as np
import pytest

from faceclip_core.errors import UsageError
from faceclip_core.face import Face, pick_face


@pytest.fixture(scope="module")
def pair_faces(analyzer, photos):
    # Left: Grace Hopper at 0.6 scale, larger box, score ~0.993; right: the astronaut, score ~0.999.
    faces = analyzer.detect(photos["pair"])
    assert faces[0].area > faces[1].area and faces[0].score < faces[1].score
    return faces


@pytest.mark.parametrize("policy, expected", [("largest", 0), ("score", 1), ("index:0", 0), ("index:1", 1)])
def test_each_policy_on_a_real_pair(pair_faces, policy, expected):
    assert pick_face(pair_faces, policy) == expected


def test_default_is_largest(pair_faces):
    assert pick_face(pair_faces) == pick_face(pair_faces, "largest")


def _face(x1: float, width: float, score: float) -> Face:
    return Face(np.array([x1, 0, x1 + width, width]), np.zeros((5, 2)), score, np.zeros((1, 1, 3)), None)


def test_policies_on_three_faces():
    faces = [_face(0, 10, 0.7), _face(20, 30, 0.6), _face(60, 20, 0.95)]
    assert [pick_face(faces, policy) for policy in ("largest", "score", "index:2")] == [1, 2, 2]


def test_index_past_the_last_face_says_how_many_there_are(pair_faces):
    with pytest.raises(UsageError, match=r"'index:2' but the image has 2 face\(s\): use an index from 0 to 1"):
        pick_face(pair_faces, "index:2")


@pytest.mark.parametrize("policy", ["biggest", "index", "index:-1", "index:one", "largest:1", ""])
def test_malformed_policy_lists_the_choices(policy):
    with pytest.raises(UsageError, match=r"use 'largest', 'score', or 'index:K'"):
        pick_face([_face(0, 10, 0.9)], policy)
