"""The node-side logic and input checks, which need no host (declarations: test_node_schemas.py; the host path:
tests/host/test_host_faceclip.py)."""
from __future__ import annotations

import re
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

import assets
from faceclip_core.errors import NoFaceError, UsageError
from nodes.checks import name_problem, number_problem, require, require_conditioning, require_faces
from nodes.face_logic import detect_faces, score_similarity
from nodes.encoder_logic import (MAX_PROMPTS, MODEL_EXTENSIONS, check_conditioning, faces_to_crops,
                                 register_model_folder, split_prompts)


def image_batch(*images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).float() / 255.0


def no_face() -> np.ndarray:
    """scikit-image's coffee cup, 512x512 like the astronaut, so both fit one IMAGE batch."""
    return np.asarray(Image.fromarray(assets.coffee()).resize((512, 512)))


def test_prompts_split_per_line_and_bad_batches_are_refused():
    assert split_prompts("a\n\n  b  \n", one_per_line=True) == ["a", "b"]
    assert split_prompts("a\nb", one_per_line=False) == ["a\nb"]
    with pytest.raises(UsageError, match="no non-empty line"):
        split_prompts(" \n ", one_per_line=True)
    with pytest.raises(UsageError, match=f"at most {MAX_PROMPTS}"):
        split_prompts("p\n" * (MAX_PROMPTS + 1), one_per_line=True)


def test_conditioning_is_checked_before_the_sampler_sees_it():
    check_conditioning(torch.zeros(2, 77, 2048), torch.zeros(2, 1280), rows=2)
    with pytest.raises(UsageError, match=r"SDXL needs \(2, 77, 2048\) and \(2, 1280\)"):
        check_conditioning(torch.zeros(2, 77, 80), torch.zeros(2, 48), rows=2)
    with pytest.raises(UsageError, match="NaN or infinite"):
        check_conditioning(torch.full((1, 77, 2048), float("nan")), torch.zeros(1, 1280), rows=1)


def test_face_input_must_come_from_detect_face():
    with pytest.raises(UsageError, match="face input must be a FACE from FaceCLIP Detect Face \\(got Tensor\\)"):
        faces_to_crops(torch.zeros(1, 448, 448, 3))


def test_detect_face_gives_faces_previews_and_crops(analyzer):
    photo = assets.astronaut()
    faces, preview, crops, _ = detect_faces(analyzer, image_batch(photo, photo), "largest", 0)
    assert len(faces) == 2 and all(f.crop.shape == (448, 448, 3) for f in faces)
    assert preview.shape == (2, 512, 512, 3) and crops.shape == (2, 448, 448, 3)
    assert not torch.equal(preview[0], image_batch(photo)[0])  # boxes were drawn
    assert faces_to_crops(faces).shape == (2, 448, 448, 3)
    with pytest.raises(NoFaceError, match="image 1 of the batch of 2"):
        detect_faces(analyzer, image_batch(photo, no_face()), "largest", 0)


def test_face_id_similarity_scores_and_names_images_without_a_face(analyzer):
    photo = assets.astronaut()
    faces, _, _, _ = detect_faces(analyzer, image_batch(photo), "largest", 0)
    scores, mean, summary = score_similarity(analyzer, faces, image_batch(photo, no_face()))
    assert scores[0] == pytest.approx(1.0, abs=1e-4) and scores[1] == 0.0
    assert mean == pytest.approx(1.0, abs=1e-4)
    assert summary.splitlines() == ["image 0: 1.000", "image 1: no face found", "ID-Sim mean over 1 of 2 images: 1.000"]


def test_model_folder_gets_extensions_and_keeps_user_paths(monkeypatch, tmp_path):
    # a minimal stand-in for the host's folder table: what register_model_folder reads and writes
    stand_in = types.SimpleNamespace(models_dir=str(tmp_path), folder_names_and_paths={"faceclip": (["/yaml/path"], set())})
    monkeypatch.setitem(sys.modules, "folder_paths", stand_in)
    register_model_folder()
    paths, extensions = stand_in.folder_names_and_paths["faceclip"]
    assert paths == ["/yaml/path", str(tmp_path / "faceclip")]
    assert extensions == MODEL_EXTENSIONS


def test_compute_dtype_follows_the_device():
    from nodes.encoder_logic import compute_dtype

    assert compute_dtype(torch.float16, torch.device("cpu")) == torch.float32
    assert compute_dtype(torch.bfloat16, torch.device("cuda")) == torch.bfloat16
    assert compute_dtype(torch.float8_e4m3fn, torch.device("cuda")) == torch.float16


def test_a_linked_value_of_the_wrong_type_is_the_packs_error_naming_the_source():
    with pytest.raises(UsageError, match=r"FaceCLIP Detect Face: the analyzer input must come from InsightFace Loader "
                                         r"\(FaceCLIP\) \(got str\)"):
        require("antelopev2", type(None), "FaceCLIP Detect Face", "analyzer", "InsightFace Loader (FaceCLIP)")
    for not_faces in (None, [], [1], torch.zeros(1)):
        with pytest.raises(UsageError, match="Face ID Similarity: the reference input must be a FACE"):
            require_faces(not_faces, "Face ID Similarity", "reference", allow_missing=True)
    # a row Detect Face passed on without a face (on_no_face 'text only') is a FACE row only where a node takes those
    with pytest.raises(UsageError, match="FaceCLIP Text Encode: the face input must be a FACE"):
        require_faces([None], "FaceCLIP Text Encode")
    assert require_faces([None], "FaceCLIP Text Encode", allow_missing=True) == [None]
    for not_conditioning in ([torch.zeros(1)], [[torch.zeros(1), None]], "text"):
        with pytest.raises(UsageError, match="ID-EA Apply: the conditioning input is not CONDITIONING"):
            require_conditioning(not_conditioning, "ID-EA Apply", "conditioning")
    pair = [[torch.zeros(1, 77, 2048), {}]]
    assert require_conditioning(pair, "ID-EA Apply", "conditioning") is pair


def test_numbers_must_be_finite_and_in_range():
    assert number_problem(0.5, "strength", 0.0, 3.0) is None
    for bad, reason in ((float("nan"), "finite"), (float("inf"), "finite"), (3.5, "between"), ("1", "a number"),
                        (True, "a number")):
        assert re.fullmatch(f"strength must be .*{reason}.*", number_problem(bad, "strength", 0.0, 3.0))


@pytest.mark.parametrize("name", ["../checkpoints/sd_xl_base_1.0", "/abs/path", "a/b", "a\\b", "", "  ", ".hidden",
                                  "x" * 101, "tab\tname", "nul\0"])
def test_an_idea_name_that_is_no_plain_file_name_is_refused(name):
    assert name_problem(name)


def test_plain_idea_names_pass():
    for name in ("my_person", "Jane Doe-2", "v1.2", "x" * 100):
        assert name_problem(name) is None


@pytest.mark.parametrize("runtime, installed, session_type", [
    ("torch", True, "TorchOnnxSession"), ("onnxruntime", True, "InferenceSession"),
    ("auto", True, "InferenceSession"),  # on the CPU, where onnxruntime is installed
    ("auto", False, "TorchOnnxSession"),  # a Manager install: nothing but ComfyUI's requirements
])
def test_insightface_loader_runtime_choice(face_models_dir, monkeypatch, runtime, installed, session_type):
    from nodes import face_logic

    monkeypatch.setattr(face_logic, "insightface_root", lambda: face_models_dir)
    if not installed:
        monkeypatch.setitem(sys.modules, "onnxruntime", None)
    analyzer = face_logic.load_analyzer("antelopev2", "CPU", runtime)
    assert type(analyzer.detector.session).__name__ == type(analyzer.recognizer.session).__name__ == session_type
