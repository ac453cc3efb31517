"""Detection on real photos through the real pack loader, and every kind of input image."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import assets
from faceclip_core.errors import NoFaceError, UsageError
from faceclip_core.face import analyzer as analyzer_module
from faceclip_core.face.detector import Detections

# Face boxes checked by eye on the previews (x1, y1, x2, y2).
ASTRONAUT_FACE = (178, 59, 273, 178)
GRACE_HOPPER_FACE = (177, 114, 351, 334)


def iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    overlap = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = lambda box: (box[2] - box[0]) * (box[3] - box[1])  # noqa: E731
    return overlap / (area(a) + area(b) - overlap)


def assert_face_layout(face) -> None:
    """Landmarks inside the box, eyes above the nose above the mouth, left features left of right ones."""
    (left_eye, right_eye, nose, left_mouth, right_mouth) = face.kps
    x1, y1, x2, y2 = face.bbox
    assert np.all((face.kps[:, 0] > x1) & (face.kps[:, 0] < x2) & (face.kps[:, 1] > y1) & (face.kps[:, 1] < y2))
    assert left_eye[0] < nose[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])


@pytest.mark.parametrize("name, expected_box", [("astronaut", ASTRONAUT_FACE), ("grace_hopper", GRACE_HOPPER_FACE)])
def test_one_face_photo_gives_its_face(analyzer, photos, name, expected_box):
    [face] = analyzer.detect(photos[name])
    assert iou(face.bbox, expected_box) > 0.85
    assert face.score > 0.9
    assert_face_layout(face)
    assert face.crop.shape == (448, 448, 3) and face.crop.dtype == np.uint8
    assert face.embedding.shape == (512,) and face.embedding.dtype == np.float32
    assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)


def test_photo_without_face_gives_no_faces(analyzer, photos):
    assert analyzer.detect(photos["coffee"]) == []


def test_two_faces_come_left_to_right(analyzer, photos):
    faces = analyzer.detect(photos["pair"])
    assert len(faces) == 2
    grace_width = round(photos["grace_hopper"].shape[1] * 0.6) + 16  # the astronaut starts after it and the gap
    shifted = np.array(ASTRONAUT_FACE) + [grace_width, 0, grace_width, 0]
    assert iou(faces[0].bbox, np.array(GRACE_HOPPER_FACE) * 0.6) > 0.8
    assert iou(faces[1].bbox, shifted) > 0.85
    for face in faces:
        assert_face_layout(face)


def test_same_face_for_every_input_format(analyzer, photos):
    rgb = photos["astronaut"]
    [reference] = analyzer.detect(rgb)
    alpha = np.full(rgb.shape[:2] + (1,), 255, dtype=np.uint8)
    variants = {
        "rgba": np.concatenate([rgb, alpha], axis=-1),
        "pil": Image.fromarray(rgb),
        "pil_rgba": Image.fromarray(rgb).convert("RGBA"),
        "uint16": rgb.astype(np.uint16) * 257,
        "float": rgb.astype(np.float32) / 255,
        "comfy_tensor": torch.from_numpy(rgb.astype(np.float32) / 255)[None],  # (1, H, W, C) float [0, 1]
    }
    for name, image in variants.items():
        [face] = analyzer.detect(image)
        assert np.abs(face.bbox - reference.bbox).max() < 0.5, name
        assert np.abs(face.kps - reference.kps).max() < 0.5, name


def test_grayscale_8_and_16_bit_find_the_face(analyzer, photos, tmp_path):
    grey = np.asarray(Image.fromarray(photos["astronaut"]).convert("L"))
    path = tmp_path / "grey16.png"
    Image.fromarray(grey.astype(np.uint16) * 257).save(path)  # PIL writes (and reads back) mode I;16
    with Image.open(path) as sixteen_bit:
        assert sixteen_bit.mode.startswith("I")
        inputs = [grey, grey[..., None], sixteen_bit.copy()]
    for image in inputs:
        [face] = analyzer.detect(image)
        assert iou(face.bbox, ASTRONAUT_FACE) > 0.85
        assert np.ptp(face.crop[..., 0].astype(int) - face.crop[..., 2]) == 0  # grey stays grey


def test_huge_image_is_detected_on_a_copy_and_cropped_from_the_original(analyzer, photos):
    scale = 10
    huge = assets.resized(photos["astronaut"], scale)  # 5120 x 5120
    [face] = analyzer.detect(huge)
    assert iou(face.bbox / scale, ASTRONAUT_FACE) > 0.85
    [small_face] = analyzer.detect(photos["astronaut"])
    # Same face, same crop geometry; the crop from the original 5120 px pixels is the sharper one.
    assert np.abs(face.kps / scale - small_face.kps).max() < 2
    assert np.abs(face.crop.astype(int) - small_face.crop).mean() < 12


def test_tiny_image_is_refused_with_the_minimum(analyzer):
    with pytest.raises(UsageError, match=r"Image 0 is 20x31 px: face analysis needs at least 32 px"):
        analyzer.detect(np.zeros((31, 20, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((64, 64, 5), dtype=np.uint8), r"shape \(64, 64, 5\)"),
        (np.zeros((64, 64, 3), dtype=np.int32), r"dtype int32: use uint8, uint16"),
    ],
)
def test_unusable_arrays_say_what_is_accepted(analyzer, image, message):
    with pytest.raises(UsageError, match=message):
        analyzer.detect(image)


def test_detect_refuses_a_batch(analyzer, photos):
    batch = np.stack([photos["astronaut"]] * 2)
    with pytest.raises(UsageError, match="use analyze"):
        analyzer.detect(batch)


def test_batch_without_face_names_the_image_index(analyzer, photos):
    coffee = assets.resized(photos["coffee"], 512 / 400)[:512, :512]
    batch = torch.from_numpy(np.stack([photos["astronaut"], coffee, photos["astronaut"]]).astype(np.float32) / 255)
    with pytest.raises(NoFaceError, match=r"No face found in image 1 of the batch of 3 \(512x512 px\)\. Try ") as error:
        analyzer.analyze(batch)
    assert error.value.exit_code == 3


def test_analyze_can_report_missing_faces_instead_of_raising(analyzer, photos):
    results = analyzer.analyze([photos["pair"], photos["coffee"]], pick="score", require_face=False)
    assert [len(result.faces) for result in results] == [2, 0]
    assert results[0].picked_index == 1 and results[0].picked is results[0].faces[1]
    assert results[1].picked_index is None and results[1].picked is None


def test_bad_pick_fails_before_detection(analyzer, photos, monkeypatch):
    monkeypatch.setattr(analyzer, "detector", None)  # would crash if detection ran
    with pytest.raises(UsageError, match="Unknown face pick 'biggest'"):
        analyzer.analyze(photos["astronaut"], pick="biggest")


class _FindsOnlyWhenSmall:
    """Stands in for a detector that misses faces filling the whole input, as SCRFD does past its anchors."""

    def __init__(self, real) -> None:
        self.real, self.fills = real, []

    def detect(self, image, fill=1.0) -> Detections:
        self.fills.append(fill)
        found = self.real.detect(image, fill)
        return found if fill <= 0.5 else Detections(found.boxes[:0], found.scores[:0], found.kps[:0])


def test_nothing_found_retries_with_the_image_smaller_in_the_detector(analyzer, photos, monkeypatch):
    detector = _FindsOnlyWhenSmall(analyzer.detector)
    monkeypatch.setattr(analyzer, "detector", detector)
    [face] = analyzer.detect(photos["astronaut"])
    assert detector.fills == list(analyzer_module.RETRY_FILLS) == [1.0, 0.75, 0.5]
    assert iou(face.bbox, ASTRONAUT_FACE) > 0.85
