"""`python -m faceclip_core encode`: the contract an outside check calls."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from faceclip_core.cli import main as cli_main
from faceclip_core.encoders.sdxl.loader import load_encoder
from tiny_faceclip import make_tiny_encoder, write_safetensors

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    weights = write_safetensors(make_tiny_encoder(), tmp / "tiny.safetensors")
    pixels = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp / "face.png")
    return tmp, weights, tmp / "face.png", pixels


def test_encode_with_face_matches_the_api(files):
    tmp, weights, face, pixels = files
    out = tmp / "cond.safetensors"
    code = subprocess.run(
        [sys.executable, "-m", "faceclip_core", "encode", "--weights", str(weights), "--face", str(face),
         "--prompt", "a person on a beach", "--prompt", "a person in a forest", "--device", "cpu", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert code.returncode == 0, code.stderr
    result = load_file(str(out))
    assert set(result) == {"context", "pooled"}
    assert result["context"].dtype == result["pooled"].dtype == torch.float32
    assert result["context"].shape == (2, 77, 80) and result["pooled"].shape == (2, 48)
    expected, _ = load_encoder(weights).encode(torch.from_numpy(pixels).float()[None] / 255, ["a person on a beach", "a person in a forest"])
    torch.testing.assert_close(result["context"], expected, atol=1e-6, rtol=0)


def test_encode_with_a_face_prints_no_warning(files):
    """Normal use shows no warning text (users read one as an error): warnings are errors in this run."""
    tmp, weights, face, _ = files
    run = subprocess.run(
        [sys.executable, "-W", "error", "-m", "faceclip_core", "encode", "--weights", str(weights), "--face", str(face),
         "--prompt", "a person on a beach", "--device", "cpu", "--out", str(tmp / "quiet.safetensors")],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert (run.returncode, run.stderr) == (0, "")


def test_no_face_needs_no_image_and_half_precision_is_written_as_float32(files):
    tmp, weights, _, _ = files
    out = tmp / "neg.safetensors"
    assert cli_main(["encode", "--weights", str(weights), "--prompt", "worst quality", "--no-face",
                     "--dtype", "bf16", "--device", "cpu", "--out", str(out)]) == 0
    result = load_file(str(out))
    assert result["context"].dtype == torch.float32 and result["context"].shape == (1, 77, 80)
    reference, _ = load_encoder(weights).encode(None, ["worst quality"])
    assert (result["context"] - reference).abs().max() < 0.1


def test_errors_exit_2_with_a_message(files, capsys):
    tmp, weights, face, _ = files
    base = ["encode", "--weights", str(weights), "--prompt", "p", "--device", "cpu", "--out", str(tmp / "x.safetensors")]
    assert cli_main(base) == 2
    assert "give --face IMG" in capsys.readouterr().err
    (tmp / "broken.png").write_bytes(b"not an image")
    assert cli_main(base + ["--face", str(tmp / "broken.png")]) == 2
    assert "Cannot read image" in capsys.readouterr().err
    assert cli_main(["encode", "--weights", str(tmp / "missing.pt"), "--prompt", "p", "--no-face", "--device", "cpu",
                     "--out", str(tmp / "x.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
    if not torch.cuda.is_available():
        on_cuda = ["encode", "--weights", str(weights), "--prompt", "p", "--face", str(face), "--device", "cuda",
                   "--out", str(tmp / "x.safetensors")]
        assert cli_main(on_cuda) == 2
        assert "no CUDA GPU" in capsys.readouterr().err
