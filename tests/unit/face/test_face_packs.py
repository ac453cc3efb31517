"""Finding and loading model packs: the layouts users have, and the broken ones they report."""
from __future__ import annotations

import logging
import sys

import pytest

import assets
from faceclip_core.errors import ModelPackError, UsageError
from faceclip_core.face import FaceAnalyzer, pack_dir
from faceclip_core.face import runtime


def test_doubled_pack_folder_from_unzipping_in_place_works(tmp_path, photos):
    folder = assets.build_face_pack(tmp_path, doubled=True)
    assert folder == tmp_path / "insightface" / "models" / "antelopev2" / "antelopev2"
    assert pack_dir(tmp_path) == folder
    [face] = FaceAnalyzer(tmp_path, providers="cpu").detect(photos["astronaut"])
    assert face.embedding is not None


def test_buffalo_l_pack_is_found_by_name(tmp_path, photos):
    assets.build_face_pack(tmp_path, pack="buffalo_l")
    analyzer = FaceAnalyzer(tmp_path, pack="buffalo_l", providers="cpu")
    assert analyzer.pack_dir.name == "buffalo_l"
    assert len(analyzer.detect(photos["pair"])) == 2


def test_models_are_recognised_by_their_inputs_and_outputs_not_their_names(tmp_path, photos):
    folder = assets.build_face_pack(tmp_path, pack="my_pack")
    assert sorted(path.name for path in folder.iterdir()) == ["detector.onnx", "recognizer.onnx"]
    (folder / "detector.onnx").rename(folder / "zz_custom_det.onnx")
    [face] = FaceAnalyzer(tmp_path, pack="my_pack", providers="cpu").detect(photos["astronaut"])
    assert face.embedding.shape == (512,)


def test_pack_without_recogniser_gives_faces_without_embeddings(tmp_path, photos):
    assets.build_face_pack(tmp_path, recognizer=False)
    analyzer = FaceAnalyzer(tmp_path, providers="cpu")
    assert not analyzer.has_recognizer
    [face] = analyzer.detect(photos["astronaut"])
    assert face.embedding is None and face.crop.shape == (448, 448, 3)


def test_missing_pack_names_folder_files_and_source(tmp_path):
    with pytest.raises(ModelPackError) as error:
        FaceAnalyzer(tmp_path)
    message = str(error.value)
    expected = tmp_path / "insightface" / "models" / "antelopev2"
    assert f"{expected} does not exist" in message
    assert "scrfd_10g_bnkps.onnx, glintr100.onnx" in message
    assert "antelopev2.zip" in message and f"sit directly in {expected}" in message
    assert error.value.exit_code == 2


def test_empty_pack_folder_says_it_is_empty(tmp_path):
    (tmp_path / "insightface" / "models" / "buffalo_l" / "buffalo_l").mkdir(parents=True)
    with pytest.raises(ModelPackError, match=r"buffalo_l is empty \(no \.onnx files\).*det_10g\.onnx.*buffalo_l\.zip"):
        FaceAnalyzer(tmp_path, pack="buffalo_l")


def test_pack_without_detector_is_refused(tmp_path):
    folder = assets.build_face_pack(tmp_path)
    (folder / "scrfd_10g_bnkps.onnx").unlink()
    with pytest.raises(ModelPackError, match=r"No face detector in .*antelopev2 \(found: glintr100\.onnx\)"):
        FaceAnalyzer(tmp_path)


@pytest.mark.parametrize("runtime_name", ["torch", "onnxruntime"])
def test_truncated_model_names_file_size_and_fix(tmp_path, runtime_name):
    folder = assets.build_face_pack(tmp_path)
    model = folder / "scrfd_10g_bnkps.onnx"
    model.write_bytes(model.read_bytes()[:100_000])  # a download cut short
    with pytest.raises(ModelPackError) as error:
        FaceAnalyzer(tmp_path, providers="cpu", runtime=runtime_name)
    message = str(error.value)
    assert f"Cannot load face model {model} (100,000 bytes)" in message
    assert "truncated or corrupt" in message and "Download the model pack 'antelopev2' again" in message


@pytest.mark.parametrize("runtime_name, cause", [("torch", "The ONNX reader said"), ("onnxruntime", "INVALID_PROTOBUF")])
def test_git_lfs_pointer_in_place_of_model_is_named_as_such(tmp_path, runtime_name, cause):
    folder = assets.build_face_pack(tmp_path)
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 255524573\n"
    (folder / "glintr100.onnx").write_bytes(pointer)
    with pytest.raises(ModelPackError, match=rf"glintr100\.onnx \(\d+ bytes\)\. It is a Git LFS pointer .*{cause}"):
        FaceAnalyzer(tmp_path, providers="cpu", runtime=runtime_name)


def test_cuda_that_cannot_start_falls_back_to_cpu_with_one_warning(face_models_dir, monkeypatch, caplog):
    ort = runtime.import_onnxruntime()
    real_session = ort.InferenceSession

    def session_without_cuda_libraries(path, sess_options=None, providers=()):
        if runtime.CUDA in providers:
            raise RuntimeError("libcudnn.so.9: cannot open shared object file")
        return real_session(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(ort, "get_available_providers", lambda: [runtime.CUDA, runtime.CPU])
    monkeypatch.setattr(ort, "InferenceSession", session_without_cuda_libraries)
    monkeypatch.setattr(runtime, "_logged_messages", set())
    with caplog.at_level(logging.WARNING, logger=runtime.__name__):
        analyzer = FaceAnalyzer(face_models_dir, runtime="onnxruntime")  # providers="auto" picks CUDA, then loads two
    assert analyzer.providers == [runtime.CUDA, runtime.CPU]
    assert analyzer.detector.session.get_providers() == [runtime.CPU]
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and "libcudnn" in warnings[0] and "runs on CPU" in warnings[0]


def test_provider_choice(monkeypatch):
    assert runtime.resolve_providers("cpu") == [runtime.CPU]
    assert runtime.resolve_providers([runtime.CPU]) == [runtime.CPU]
    ort = runtime.import_onnxruntime()
    monkeypatch.setattr(ort, "get_available_providers", lambda: [runtime.CUDA, runtime.CPU])
    assert runtime.resolve_providers("auto") == runtime.resolve_providers("cuda") == [runtime.CUDA, runtime.CPU]
    assert runtime.resolve_providers([runtime.CUDA]) == [runtime.CUDA, runtime.CPU]


@pytest.mark.parametrize(
    "providers, message",
    [
        ("cuda", r"no CUDA provider .*Install onnxruntime-gpu in place of onnxruntime"),
        ("gpu", r"Unknown providers 'gpu'"),
        (["TensorrtExecutionProvider"], r"not available here"),
    ],
)
def test_unusable_provider_requests_are_refused(providers, message):
    with pytest.raises(UsageError, match=message):
        runtime.resolve_providers(providers)


def test_cpu_build_shadowing_gpu_build_is_explained(monkeypatch, caplog):
    monkeypatch.setattr(runtime, "installed_runtime_builds", lambda: ["onnxruntime", "onnxruntime-gpu"])
    monkeypatch.setattr(runtime, "_logged_messages", set())
    with caplog.at_level(logging.WARNING, logger=runtime.__name__):
        assert runtime.resolve_providers("auto") == [runtime.CPU]
    assert "pip uninstall -y onnxruntime onnxruntime-gpu" in caplog.text


def test_missing_onnxruntime_says_which_build_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(UsageError, match=r"pip install onnxruntime-gpu.*otherwise `pip install onnxruntime`"):
        runtime.import_onnxruntime()



def test_sessions_do_not_spin_their_threads_between_runs(face_models_dir):
    """Idle onnxruntime threads busy-wait by default, taking the cores from torch right after face analysis
    (ID-EA training prepares its photos, then trains): the CLI test ran 4x slower on 2 cores."""
    detector = next((face_models_dir / "insightface" / "models" / "antelopev2").glob("*.onnx"))
    session = runtime.open_session(detector, [runtime.CPU])
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
