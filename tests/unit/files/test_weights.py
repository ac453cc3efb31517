"""The weight-file reader: each kind of file is told its own fix, never another model's."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from faceclip_core.encoders.t5.checkpoint import read_facet5_state, read_t5xxl_state
from faceclip_core.encoders.t5.config import OFFICIAL as FACET5_OFFICIAL
from faceclip_core.errors import CheckpointError
from faceclip_core.files.weights import Advice, read_checkpoint
from faceclip_core.train.stage2 import UNET_ADVICE

ADVICE = Advice("a test model", "https://example.org/model.pt", "the model file inside it", ", e.g. with curl")


def _truncated(path):
    save_file({"x": torch.zeros(64)}, str(path))
    path.write_bytes(path.read_bytes()[:-100])
    return path


def test_each_failure_ends_with_the_callers_advice(tmp_path):
    with pytest.raises(CheckpointError, match=r"does not exist\. Put a test model there; it is published at https://example\.org/model\.pt\.$"):
        read_checkpoint(tmp_path / "absent.pt", ADVICE)
    with pytest.raises(CheckpointError, match=r"is a folder, not a weights file\. Give the path of the model file inside it\.$"):
        read_checkpoint(tmp_path, ADVICE)
    with pytest.raises(CheckpointError, match=r"truncated or corrupt .* Download it again from https://example\.org/model\.pt\.$"):
        read_checkpoint(_truncated(tmp_path / "cut.safetensors"), ADVICE)
    (tmp_path / "lfs.pt").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    with pytest.raises(CheckpointError, match=r"Git LFS pointer.*Download the real file from https://example\.org/model\.pt, e\.g\. with curl\.$"):
        read_checkpoint(tmp_path / "lfs.pt", ADVICE)


@pytest.mark.parametrize("read, names", [
    (lambda path: read_t5xxl_state(path, FACET5_OFFICIAL), "flux_text_encoders"),
    (read_facet5_state, "face_t5_encoder.pt"),
    (lambda path: read_checkpoint(path, UNET_ADVICE), "model/unet.pt"),
])
def test_other_files_are_not_told_to_fetch_the_sdxl_encoder(tmp_path, read, names):
    with pytest.raises(CheckpointError) as caught:
        read(_truncated(tmp_path / "cut.safetensors"))
    assert names in str(caught.value) and "face_clip_encoder.pt" not in str(caught.value)
