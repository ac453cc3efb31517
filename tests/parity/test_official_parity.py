"""Parity with the official FaceCLIP encoder in fp32, on the same random weights in the released format.

Runs only when FACECLIP_OFFICIAL_PATH points to a checkout of github.com/bytedance/FaceCLIP (and
omegaconf is installed); FACECLIP_PARITY_DIR may point to the output of an earlier
`tests/parity/official_reference.py` run to skip the ~2 minutes it takes. Needs about 14 GB of RAM.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from faceclip_core.encoders.sdxl.loader import load_encoder

sys.path.insert(0, str(Path(__file__).parent))
import reference_files  # noqa: E402

OFFICIAL = os.environ.get("FACECLIP_OFFICIAL_PATH")
pytestmark = pytest.mark.skipif(not OFFICIAL, reason="FACECLIP_OFFICIAL_PATH (a bytedance/FaceCLIP checkout) is not set")
TOLERANCE = 1e-4


reference_dir, reference = reference_files.parity_fixtures("official_reference.py", "FACECLIP_PARITY_DIR")


@pytest.fixture(scope="module")
def encoder(reference_dir):
    return load_encoder(reference_dir / "face_clip_encoder.pt", dtype=torch.float32)


@pytest.mark.parametrize("case", ["faces", "no_face", "mixed"])
def test_matches_official_outputs(encoder, reference, case):
    cases, tensors = reference
    rows = cases[case]
    context, pooled = encoder.encode(tensors["faces"], [p for _, p in rows], face_index=[i for i, _ in rows])
    assert context.shape == tensors[f"{case}.context"].shape
    assert (context - tensors[f"{case}.context"]).abs().max().item() <= TOLERANCE
    assert (pooled - tensors[f"{case}.pooled"]).abs().max().item() <= TOLERANCE
