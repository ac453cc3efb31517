"""How closely the built-in detector's 448 crops reproduce FaceCLIP's aligned faces, beside the test pack's detector
(tiny RetinaFace, today's), on official-style aligned faces alone and pasted into larger photos.

Measured (see the printed line): official sample faces, built-in 4.80 px mean (9.59 max) vs test pack 6.19 (12.17);
the hand-placed public-domain faces, 5.87 (6.70) vs 6.06 (9.24). The issue's bar is that the built-in detector's
crops be no further off than the test pack's on the same faces: both tests hold it to that, mean and worst case.

The error of a crop is how far the template points move between the crop made from the detected landmarks and the
crop made from the true ones (448 px frame, mean over the 5 points): 0 when the pipeline reproduces the face.
In CI the aligned faces are built with the pack's own align code from the public-domain photos, their landmarks
placed by hand; with FACECLIP_OFFICIAL_PATH the official repository's sample faces (asset/*.png) are used too.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import assets
from faceclip_core.face import FaceAnalyzer
from faceclip_core.face.align import align_face, similarity_transform, template

# Eyes, nose tip, mouth corners, image left to right, placed by hand on 4-6x enlargements (about +-1 px).
HAND_LANDMARKS = {
    "astronaut": [[203.3, 101.3], [244.5, 103.6], [223.0, 127.5], [204.2, 140.8], [243.3, 141.3]],
    "grace_hopper": [[222.5, 189.5], [305.0, 187.0], [266.0, 236.0], [227.0, 280.0], [305.0, 277.0]],
}
TEMPLATE = template(448)


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def crop_error(found: np.ndarray, true: np.ndarray) -> float:
    """Mean distance (448 px crop) between where the true landmarks land in the crop made from `found` and in the
    crop made from the true landmarks themselves."""
    return float(np.linalg.norm(apply(similarity_transform(found, TEMPLATE), true)
                                - apply(similarity_transform(true, TEMPLATE), true), axis=1).mean())


def variants(face: np.ndarray, true: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The aligned face alone, pasted full size into a 1200x800 photo, and pasted at half size: (image, landmarks)."""
    background = np.asarray(Image.fromarray(assets.coffee()).resize((1200, 800)))
    full = background.copy()
    full[200:648, 500:948] = face
    half = background.copy()
    half[300:524, 100:324] = np.asarray(Image.fromarray(face).resize((224, 224), Image.LANCZOS))
    return [(face, true), (full, true + (500, 200)), (half, true / 2 + (100, 300))]


def errors(analyzer: FaceAnalyzer, faces: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    result = []
    for face, true in faces:
        for image, landmarks in variants(face, true):
            [found] = analyzer.detect(image)
            result.append(crop_error(found.kps, landmarks))
    return np.array(result)


def official_style_faces() -> list[tuple[np.ndarray, np.ndarray]]:
    """The public-domain photos aligned by the pack's align code on their hand-placed landmarks: (448 crop, where
    those landmarks are in it)."""
    faces = []
    for name, points in HAND_LANDMARKS.items():
        crop, matrix = align_face(assets.photos()[name], np.array(points), 448)
        faces.append((crop, apply(matrix, np.array(points))))
    return faces


def compare(analyzer: FaceAnalyzer, faces: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    builtin = errors(FaceAnalyzer(providers="cpu"), faces)
    today = errors(analyzer, faces)
    print(f"crop error, 448 px (mean / max): built-in {builtin.mean():.2f} / {builtin.max():.2f}, "
          f"test pack {today.mean():.2f} / {today.max():.2f}")
    return builtin, today


def test_builtin_crops_stay_close_on_official_style_faces(analyzer):
    builtin, today = compare(analyzer, official_style_faces())
    assert builtin.mean() <= today.mean() and builtin.max() <= today.max()


@pytest.mark.skipif(not os.environ.get("FACECLIP_OFFICIAL_PATH"),
                    reason="set FACECLIP_OFFICIAL_PATH to the official FaceCLIP checkout (its asset/ sample faces)")
def test_builtin_crops_are_as_close_as_todays_on_the_official_sample_faces(analyzer):
    files = sorted(Path(os.environ["FACECLIP_OFFICIAL_PATH"], "asset").glob("0*.png"))
    assert files, "no asset/0*.png sample faces in FACECLIP_OFFICIAL_PATH"
    # The official faces are aligned already: their landmarks are where the template puts them.
    faces = [(np.asarray(Image.open(path).convert("RGB")), TEMPLATE) for path in files]
    builtin, today = compare(analyzer, faces)
    assert builtin.mean() <= today.mean() and builtin.max() <= today.max()
