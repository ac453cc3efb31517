"""`python -m faceclip_core detect`: the JSON contract on stdout, exit codes, and the files it writes."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from faceclip_core import cli
from faceclip_core.face import FaceAnalyzer


@pytest.fixture
def detect(capfd, face_models_dir):
    """Runs the command (with --providers cpu) and returns (exit code, stdout, stderr) as the process wrote them."""

    def run(*args: str, models_dir=face_models_dir) -> tuple[int, str, str]:
        code = cli.main(["detect", *args, "--models-dir", str(models_dir), "--providers", "cpu"])
        out, err = capfd.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory, photos):
    folder = tmp_path_factory.mktemp("photos")
    for name in ("pair", "coffee", "astronaut"):
        Image.fromarray(photos[name]).save(folder / f"{name}.png")
    return folder


def test_faces_as_json_with_the_picked_one_flagged(detect, photo_files, tmp_path):
    crop, preview = tmp_path / "crop.png", tmp_path / "preview.png"
    code, out, err = detect(str(photo_files / "pair.png"), "--pick", "score", "--out-crop", str(crop), "--out-preview", str(preview))
    assert code == 0
    result = json.loads(out)
    assert list(result) == ["faces"] and len(result["faces"]) == 2
    for face in result["faces"]:
        assert list(face) == ["bbox", "kps", "score", "picked"]
        assert len(face["bbox"]) == 4 and np.array(face["kps"]).shape == (5, 2) and 0.9 < face["score"] <= 1
    assert [face["picked"] for face in result["faces"]] == [False, True]
    assert result["faces"][0]["bbox"][0] < result["faces"][1]["bbox"][0]  # left to right
    with Image.open(crop) as image:
        assert image.size == (448, 448) and image.mode == "RGB"
    with Image.open(preview) as image:
        assert image.size == (835, 512)


@pytest.mark.parametrize("pick, picked", [("largest", [True, False]), ("index:1", [False, True])])
def test_pick_option(detect, photo_files, pick, picked):
    code, out, _ = detect(str(photo_files / "pair.png"), "--pick", pick)
    assert code == 0 and [face["picked"] for face in json.loads(out)["faces"]] == picked


def test_no_face_exits_3_with_the_message_on_stderr(detect, photo_files):
    code, out, err = detect(str(photo_files / "coffee.png"))
    assert code == 3 and out == ""
    assert f"No face found in {photo_files / 'coffee.png'} (600x400 px). Try " in err


def test_library_chatter_stays_off_stdout(detect, photo_files, monkeypatch):
    real_detect = FaceAnalyzer.detect

    def chatty_detect(self, image):
        print("find model: scrfd_10g_bnkps.onnx detection [1, 3, '?', '?'] 127.5 128.0")  # as insightface does
        return real_detect(self, image)

    monkeypatch.setattr(FaceAnalyzer, "detect", chatty_detect)
    code, out, err = detect(str(photo_files / "astronaut.png"))
    assert code == 0 and len(json.loads(out)["faces"]) == 1
    assert "find model" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.png"], "Cannot read image missing.png"),
        (["{photos}/astronaut.png", "--pack", "buffalo_l"], "Face model pack 'buffalo_l' not found"),
        (["{photos}/astronaut.png", "--out-crop", "{photos}/astronaut.png/crop.png"],
         "crop.png: a part of the folder path is a file"),
    ],
)
def test_bad_files_exit_2_with_the_cause(detect, photo_files, args, message):
    code, out, err = detect(*[arg.format(photos=photo_files) for arg in args])
    assert code == 2 and out == "" and message in err


def test_bad_pick_is_an_argument_error(detect, photo_files):
    with pytest.raises(SystemExit) as exit_info:
        detect(str(photo_files / "astronaut.png"), "--pick", "biggest")
    assert exit_info.value.code == 2


def test_text_file_given_as_image_exits_2(detect, tmp_path):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    code, _, err = detect(str(not_an_image))
    assert code == 2 and "Cannot read image" in err and "PNG, JPEG or WebP" in err
