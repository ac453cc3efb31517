"""The command lines given hostile or broken input, as a user runs them (`python -m ...` subprocesses):
the exit code, the message, no traceback, nothing written outside the target, the old file intact after a
failed write, file modes under umask 022, and no model loaded before a refusal that needs none."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from faceclip_core.encoders.sdxl.loader import load_encoder
from hostile_files import decompression_bomb_png
from tiny_faceclip import make_tiny_encoder, write_official_pt, write_safetensors

ROOT = Path(__file__).resolve().parents[3]


def run(module: str, *args, preexec=None, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                            preexec_fn=preexec, env={**os.environ, **(env or {})}, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def refused(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def umask_022() -> None:
    os.umask(0o022)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    encoder = make_tiny_encoder()
    weights = write_safetensors(encoder, tmp / "tiny.safetensors")
    official = write_official_pt(encoder, tmp / "tiny.pt")
    grey = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(grey).save(tmp / "face8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp / "face16.png")  # the same picture in 16 bits
    Image.new("RGB", (1, 1)).save(tmp / "dot.png")
    (tmp / "bomb.png").write_bytes(decompression_bomb_png())
    return tmp, weights, official, grey


def encode(weights: Path, face: Path, out: Path, **kwargs) -> subprocess.CompletedProcess:
    return run("faceclip_core", "encode", "--weights", weights, "--face", face, "--prompt", "a person", "--device", "cpu",
               "--out", out, **kwargs)


def test_encode_reads_a_16_bit_grey_face_as_its_8_bit_twin(files, tmp_path):
    tmp, weights, _, grey = files
    out = tmp_path / "new" / "folder" / "cond.safetensors"  # missing folders are created
    result = encode(weights, tmp / "face16.png", out, preexec=umask_022)
    assert result.returncode == 0, result.stderr
    face = torch.from_numpy(np.repeat(grey[..., None], 3, -1)).float()[None] / 255
    expected, _ = load_encoder(weights).encode(face, ["a person"])
    torch.testing.assert_close(load_file(str(out))["context"], expected)
    assert out.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in out.parent.iterdir()) == ["cond.safetensors"]


@pytest.mark.parametrize("case", ["folder", "pipe", "its own weights", "1x1 face", "bomb", "weights folder"])
def test_encode_refuses_with_a_message(files, tmp_path, case):
    tmp, weights, _, _ = files
    face, out = tmp / "face8.png", tmp_path / "cond.safetensors"
    if case == "folder":
        out.mkdir()
        refused(encode(weights, face, out), 2, f"Cannot write {out}: it is a folder")
        assert out.is_dir() and not any(out.iterdir())
    elif case == "pipe":
        os.mkfifo(out)
        refused(encode(weights, face, out), 2, "not a regular file (a device, pipe or socket)")
        assert out.is_fifo()
    elif case == "its own weights":
        before = weights.read_bytes()
        refused(encode(weights, face, weights), 2, "also an input of this command")
        assert weights.read_bytes() == before
    elif case == "1x1 face":
        refused(encode(weights, tmp / "dot.png", out), 2, "is 1x1 px; a face crop needs at least 32 px")
    elif case == "bomb":
        refused(encode(weights, tmp / "bomb.png", out), 2, "10240x10240 px", "decompression bomb")
    else:
        refused(encode(tmp, face, out), 2, f"--weights {tmp} is a folder, not a file")
    assert not out.is_file() and not list(tmp_path.glob("*.partial"))


def _limit_file_size() -> None:
    """A write past 4 KB fails (EFBIG) in this process: a full disk, for a test."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_failed_write_keeps_the_old_output_and_names_the_cause(files, tmp_path):
    tmp, weights, _, _ = files
    out = tmp_path / "cond.safetensors"
    out.write_bytes(b"the previous conditioning")
    refused(encode(weights, tmp / "face8.png", out, preexec=_limit_file_size), 2,
            f"Cannot write {out}: the file is larger than this file system or process allows")
    assert out.read_bytes() == b"the previous conditioning"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cond.safetensors"]


def test_convert_refuses_its_own_input_and_writes_0644_into_new_folders(files, tmp_path):
    tmp, _, official, _ = files
    before = official.read_bytes()
    refused(run("faceclip_core", "convert", official, official), 2, "also an input of this command")
    assert official.read_bytes() == before
    out = tmp_path / "missing" / "tiny.safetensors"
    result = run("faceclip_core", "convert", official, out, preexec=umask_022)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o777 == 0o644


def test_detect_refuses_a_folder_as_crop_before_loading_models(files, tmp_path):
    tmp = files[0]
    refused(run("faceclip_core", "detect", tmp / "face8.png", "--models-dir", tmp_path / "no_models", "--out-crop", tmp_path),
            2, f"Cannot write {tmp_path}: it is a folder")


@pytest.mark.parametrize("name, problem", [("../checkpoints/sd_xl_base_1.0", "starts with a dot"),
                                           ("/tmp/anywhere", "contains '/'")])
def test_idea_train_refuses_a_name_that_leaves_the_folder_before_any_model(files, tmp_path, name, problem):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.open(files[0] / "face8.png").save(photos / f"{i}.png")
    out = tmp_path / "out"
    # the SDXL and face model paths do not exist: reaching them would be another error
    result = run("faceclip_core.idea", "train", "--images", photos, "--sdxl", tmp_path / "no_sdxl", "--face-models",
                 tmp_path / "no_faces", "--name", name, "--out", out)
    refused(result, 2, f"The ID-EA name {name!r} {problem}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_idea_train_counts_the_photos_before_any_model(files, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(files[0] / "face8.png").save(photos / "only.png")
    (tmp_path / "sdxl").mkdir()  # empty, as are the face models: loading either would be another error
    (tmp_path / "faces").mkdir()
    result = run("faceclip_core.idea", "train", "--images", photos, "--sdxl", tmp_path / "sdxl", "--face-models",
                 tmp_path / "faces", "--name", "jane", "--out", tmp_path / "out")
    refused(result, 2, "at least 2 photos of the person; got 1 in")
    assert not (tmp_path / "out").exists()


def test_download_offline_fails_at_once_and_creates_nothing(tmp_path):
    result = run("faceclip_core", "download", "--models-dir", tmp_path / "models", env={"HF_HUB_OFFLINE": "1"})
    refused(result, 2, "HF_HUB_OFFLINE is set", "put it in")
    assert not (tmp_path / "models").exists()
