"""The face-analysis loader's pack choice: the built-in detector first, an insightface pack that is not installed
named with the folder it goes in, and Face ID Similarity without a recogniser naming the pack that adds one."""
from __future__ import annotations

import sys
import types

import pytest
import torch

from faceclip_core.errors import ModelPackError, UsageError
from nodes.face_logic import detect_faces, load_analyzer, pack_choices, score_similarity


@pytest.fixture
def host_models(monkeypatch, tmp_path):
    """A stand-in for the host's folder table (models folder tmp_path, nothing installed) and its device choice."""
    monkeypatch.setitem(sys.modules, "folder_paths",
                        types.SimpleNamespace(models_dir=str(tmp_path), folder_names_and_paths={}))
    model_management = types.SimpleNamespace(get_torch_device=lambda: torch.device("cpu"))
    monkeypatch.setitem(sys.modules, "comfy", types.SimpleNamespace(model_management=model_management))
    monkeypatch.setitem(sys.modules, "comfy.model_management", model_management)
    return tmp_path


def test_the_builtin_detector_comes_first_and_installed_packs_are_listed(host_models):
    assert pack_choices() == ["yunet", "antelopev2", "buffalo_l"]
    (host_models / "insightface" / "models" / "my_pack").mkdir(parents=True)
    assert pack_choices() == ["yunet", "antelopev2", "buffalo_l", "my_pack"]


def test_the_builtin_detector_runs_on_the_hosts_device_with_nothing_installed(host_models, photos):
    analyzer = load_analyzer("yunet", "auto")
    assert analyzer.detector.device == torch.device("cpu") and not analyzer.has_recognizer
    faces, previews, crops, _ = detect_faces(analyzer, torch.from_numpy(photos["astronaut"][None]).float() / 255,
                                             "largest", 0)
    assert crops.shape == (1, 448, 448, 3) and faces[0].embedding is None and previews.shape == (1, 512, 512, 3)


@pytest.mark.parametrize("pack", ["antelopev2", "buffalo_l"])
def test_a_pack_that_is_not_installed_says_where_to_put_it(host_models, pack):
    with pytest.raises(ModelPackError) as error:
        load_analyzer(pack, "auto")
    folder = host_models / "insightface" / "models" / pack
    assert f"Face model pack '{pack}' not found: {folder} does not exist" in str(error.value)
    assert f"unzip it so the .onnx files sit directly in {folder}" in str(error.value)


def test_similarity_with_the_builtin_detector_names_the_pack_that_adds_a_recogniser(host_models, photos):
    analyzer = load_analyzer("yunet", "auto")
    image = torch.from_numpy(photos["astronaut"][None]).float() / 255
    faces, _, _, _ = detect_faces(analyzer, image, "largest", 0)
    with pytest.raises(UsageError) as error:
        score_similarity(analyzer, faces, image)
    message = str(error.value)
    assert "The built-in detector 'yunet' finds and aligns faces but has no recogniser (ArcFace)" in message
    assert "Pick antelopev2 (or buffalo_l) in InsightFace Loader" in message
    assert str(host_models / "insightface" / "models" / "antelopev2") in message
