"""`python -m faceclip_core detect IMG` with nothing installed: the built-in detector, no models folder, no
onnxruntime (made unimportable), an empty home folder; the same JSON, crop and exit codes as with a pack."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceclip_core.face import FaceAnalyzer

ROOT = Path(__file__).resolve().parents[3]
# Runs the command as `python -m faceclip_core` does, with every onnxruntime import failing as if not installed.
WITHOUT_ONNXRUNTIME = (
    "import runpy, sys; sys.modules['onnxruntime'] = None; sys.argv[0] = 'faceclip_core'; "
    "runpy.run_module('faceclip_core', run_name='__main__', alter_sys=True)"
)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, photos):
    """(run, photo folder, home): run(*args) starts the command in an empty folder with an empty HOME."""
    work, home = tmp_path_factory.mktemp("fresh_install"), tmp_path_factory.mktemp("empty_home")
    for name in ("pair", "coffee", "astronaut"):
        Image.fromarray(photos[name]).save(work / f"{name}.png")
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", WITHOUT_ONNXRUNTIME, "detect", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)

    return run, work, home


def test_detect_without_anything_installed_prints_the_faces_and_writes_the_crop(fresh, analyzer):
    run, work, home = fresh
    result = run("pair.png", "--pick", "score", "--out-crop", "crop.png", "--out-preview", "preview.png")
    assert result.returncode == 0, result.stderr
    faces = json.loads(result.stdout)["faces"]
    assert [list(face) for face in faces] == [["bbox", "kps", "score", "picked"]] * 2
    for face in faces:
        assert len(face["bbox"]) == 4 and np.array(face["kps"]).shape == (5, 2) and 0.9 < face["score"] <= 1
        assert all(value == round(value, 2) for value in face["bbox"] + sum(face["kps"], []))
    assert [face["picked"] for face in faces] == [False, True]
    # the same faces, left to right, as the insightface-layout test pack finds (today's detector)
    pack_faces = analyzer.detect(np.asarray(Image.open(work / "pair.png")))
    for face, pack_face in zip(faces, pack_faces):
        assert np.abs(np.array(face["kps"]) - pack_face.kps).max() < 12
    with Image.open(work / "crop.png") as crop:
        assert crop.size == (448, 448) and crop.mode == "RGB"
        builtin = FaceAnalyzer(providers="cpu").detect(np.asarray(Image.open(work / "pair.png")))
        np.testing.assert_array_equal(np.asarray(crop), builtin[1].crop)
    # nothing written but the outputs asked for: no models folder, no download cache in HOME
    assert sorted(path.name for path in work.iterdir()) == ["astronaut.png", "coffee.png", "crop.png", "pair.png",
                                                            "preview.png"]
    assert not any(home.iterdir())


def test_no_face_exits_3(fresh):
    run, _, _ = fresh
    result = run("coffee.png")
    assert result.returncode == 3 and result.stdout == ""
    assert "No face found in coffee.png (600x400 px)." in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.png"], "Cannot read image missing.png"),
        (["astronaut.png", "--pack", "antelopev2"], "give the models folder that holds insightface/models/antelopev2/"),
        (["astronaut.png", "--models-dir", ".", "--pack", "unknown"], "Face model pack 'unknown' not found"),
    ],
)
def test_bad_arguments_exit_2_with_the_cause(fresh, args, message):
    run, _, _ = fresh
    result = run(*args)
    assert result.returncode == 2 and result.stdout == "" and message in result.stderr


def test_a_pack_runs_on_torch_without_onnxruntime(fresh, face_models_dir):
    """--models-dir with a pack needs no onnxruntime either: the pack's .onnx files run in torch."""
    run, _, _ = fresh
    result = run("astronaut.png", "--models-dir", str(face_models_dir), "--pack", "antelopev2")
    assert result.returncode == 0, result.stderr
    [face] = json.loads(result.stdout)["faces"]
    assert face["picked"] and len(face["kps"]) == 5
