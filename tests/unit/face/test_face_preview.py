"""The preview image: boxes and landmarks drawn, the picked face marked apart from the others."""
from __future__ import annotations

import numpy as np

from faceclip_core.face import draw_preview
from faceclip_core.face.preview import OTHER_COLOUR, PICKED_COLOUR


def _has_colour(image: np.ndarray, colour, box) -> bool:
    x1, y1, x2, y2 = (int(v) for v in box)
    edge = np.concatenate([image[y1, x1:x2], image[y2, x1:x2], image[y1:y2, x1], image[y1:y2, x2]])
    return bool(np.all(edge == colour, axis=-1).mean() > 0.5)


def test_picked_face_is_green_the_others_red(analyzer, photos):
    image = photos["pair"]
    faces = analyzer.detect(image)
    preview = draw_preview(image, faces, picked_index=1)
    assert preview.shape == image.shape and preview.dtype == np.uint8
    assert _has_colour(preview, PICKED_COLOUR, faces[1].bbox)
    assert _has_colour(preview, OTHER_COLOUR, faces[0].bbox)
    assert not np.shares_memory(preview, image) and not np.array_equal(preview, image)
    for x, y in faces[0].kps:  # landmark dots drawn over the face
        assert not np.array_equal(preview[round(y), round(x)], image[round(y), round(x)])


def test_preview_without_faces_is_the_image(photos):
    float_image = photos["coffee"].astype(np.float32) / 255
    assert np.array_equal(draw_preview(float_image, [], None), photos["coffee"])
