"""Parity with the official FaceT5 encoder in fp32, on the same seeded random weights in the released format.

Runs only when FACECLIP_OFFICIAL_PATH points to a checkout of github.com/bytedance/FaceCLIP (and
transformers is installed); FACECLIP_FACET5_PARITY_DIR may point to the output of an earlier
`tests/parity/official_facet5_reference.py` run. The official numbers are one face and one prompt per
call (as its pipeline calls it); ours are every case's rows in one batch.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from faceclip_core.encoders.t5.loader import load_facet5

sys.path.insert(0, str(Path(__file__).parent))
import reference_files  # noqa: E402

OFFICIAL = os.environ.get("FACECLIP_OFFICIAL_PATH")
pytestmark = pytest.mark.skipif(not OFFICIAL, reason="FACECLIP_OFFICIAL_PATH (a bytedance/FaceCLIP checkout) is not set")
TOLERANCE = 1e-4


reference_dir, reference = reference_files.parity_fixtures("official_facet5_reference.py", "FACECLIP_FACET5_PARITY_DIR")


@pytest.mark.parametrize("source", ["pt", "safetensors"])
@pytest.mark.parametrize("case", ["faces", "no_face"])
def test_matches_official_outputs(reference_dir, reference, case, source, tmp_path):
    weights = reference_dir / "face_t5_encoder.pt"
    if source == "safetensors":  # the same weights through `convert`
        converted = tmp_path / "face_t5_encoder.safetensors"
        from faceclip_core.cli import main

        assert main(["convert", str(weights), str(converted)]) == 0
        weights = converted
    encoder = load_facet5(weights, dtype=torch.float32)
    cases, tensors = reference
    rows = cases[case]
    context, pooled = encoder.encode(tensors["faces"], [p for _, p in rows], face_index=[i for i, _ in rows])
    assert context.shape == tensors[f"{case}.context"].shape
    context_err = (context - tensors[f"{case}.context"]).abs().max().item()
    pooled_err = (pooled - tensors[f"{case}.pooled"]).abs().max().item()
    print(f"{case} ({source}): context max abs diff {context_err:.2e}, pooled {pooled_err:.2e}")
    assert context_err <= TOLERANCE
    assert pooled_err <= TOLERANCE
