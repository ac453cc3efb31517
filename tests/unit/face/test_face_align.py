"""The 448 crop: insightface norm_crop's geometry (template x4, Umeyama similarity) and a correct warp."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import SimilarityTransform

from faceclip_core.face.align import ARCFACE_TEMPLATE_112, align_face, similarity_transform, template, warp_affine


def test_template_is_arcface_scaled_by_four():
    assert np.allclose(template(448), ARCFACE_TEMPLATE_112 * 4)
    assert np.allclose(template(448)[0], [153.1784, 206.7852])
    with pytest.raises(ValueError, match="multiple of 112"):
        template(500)


def test_similarity_matches_scikit_image_the_estimator_insightface_uses(photos, analyzer):
    rng = np.random.default_rng(1)
    landmark_sets = [face.kps for face in analyzer.detect(photos["pair"])]
    landmark_sets += [rng.uniform(0, 1000, (5, 2)) for _ in range(20)]
    for kps in landmark_sets:
        reference = SimilarityTransform.from_estimate(kps, template(448)).params[:2]
        assert np.allclose(similarity_transform(kps, template(448)), reference, atol=1e-9)


def test_exact_similarity_is_recovered():
    angle, scale, shift = np.deg2rad(23), 0.37, np.array([-41.0, 12.5])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.random.default_rng(0).uniform(0, 500, (5, 2))
    matrix = similarity_transform(src, src @ rotation.T + shift)
    assert np.allclose(matrix, np.hstack([rotation, shift[:, None]]))


def _marked_image(points: np.ndarray, size: int = 900) -> np.ndarray:
    """Noise with a bright 3x3 square centred on each (integer) point, each in its own colour channel mix."""
    image = np.random.default_rng(2).integers(0, 40, (size, size, 3), dtype=np.uint8)
    for (x, y) in np.rint(points).astype(int):
        image[y - 1 : y + 2, x - 1 : x + 2] = 255
    return image


def _bright_spot_centres(crop: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre of the bright pixels within 12 px of each expected point."""
    brightness = crop.astype(float).mean(axis=-1)
    ys, xs = np.mgrid[0 : crop.shape[0], 0 : crop.shape[1]]
    centres = []
    for x, y in near:
        window = (np.hypot(xs - x, ys - y) < 12) & (brightness > 100)
        weights = brightness * window
        centres.append([(xs * weights).sum() / weights.sum(), (ys * weights).sum() / weights.sum()])
    return np.array(centres)


def test_marked_landmarks_land_on_the_scaled_template_in_the_crop():
    # Landmarks that are an exact similarity of the template (tilted, 1.7x, shifted): the crop must
    # put each marked point on its template position.
    angle = np.deg2rad(-17)
    rotation = 1.7 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    kps = template(448) @ rotation.T + [160.0, 230.0]
    kps = np.rint(kps)  # the marks sit on whole pixels
    crop, matrix = align_face(_marked_image(kps), kps, 448)
    assert crop.shape == (448, 448, 3) and crop.dtype == np.uint8
    found = _bright_spot_centres(crop, template(448))
    assert np.abs(found - template(448)).max() < 2.0
    mapped = kps @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(mapped - template(448)).max() < 2.0


def test_face_in_the_crop_is_where_the_transform_puts_its_landmarks(analyzer, photos):
    # Detecting again on the crop finds the landmarks where the transform sent the original ones
    # (a real face is no exact similarity of the template, so those are near it, not on it).
    for face in analyzer.detect(photos["pair"]):
        matrix = similarity_transform(face.kps, template(448))
        mapped = face.kps @ matrix[:, :2].T + matrix[:, 2]
        [again] = analyzer.detect(face.crop)
        assert np.abs(again.kps - mapped).max() < 20  # the tiny test detector: 5-16 px typical, 20 worst seen
        assert np.abs(mapped - template(448)).max() < 32


def test_warp_puts_pixel_centres_on_integer_coordinates():
    image = (np.arange(6 * 6 * 3).reshape(6, 6, 3) * 3).astype(np.uint8)
    assert np.array_equal(warp_affine(image, np.array([[1.0, 0, 0], [0, 1.0, 0]]), 6), image)
    # Output x = source x - 0.5: each output pixel is the mean of two neighbours (to 1 level of rounding).
    shifted = warp_affine(image, np.array([[1.0, 0, -0.5], [0, 1.0, 0]]), 6).astype(int)
    assert np.abs(shifted[:, :5] - (image[:, :5].astype(int) + image[:, 1:]) / 2).max() <= 0.5
    # Output x = 2 * source x: source pixel 2 lands on output pixel 4.
    doubled = warp_affine(image, np.array([[2.0, 0, 0], [0, 2.0, 0]]), 6)
    assert np.array_equal(doubled[4, 4], image[2, 2])


def test_outside_the_image_is_black():
    image = np.full((50, 50, 3), 200, dtype=np.uint8)
    crop = warp_affine(image, np.array([[1.0, 0, 30], [0, 1.0, 30]]), 100)  # image now covers 30..79
    assert (crop[:25, :25] == 0).all() and (crop[85:, 85:] == 0).all() and (crop[40:70, 40:70] == 200).all()
    far_away = warp_affine(image, np.array([[1.0, 0, 500], [0, 1.0, 0]]), 100)
    assert far_away.shape == (100, 100, 3) and not far_away.any()
