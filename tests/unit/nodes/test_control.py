"""Identity control without a host: photos without a face (on_no_face), identity strength, region masks for two
people (the host path: tests/test_host_control.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import assets
from faceclip_core.errors import NoFaceError, UsageError
from faceclip_core.face import Face
from nodes.face_logic import detect_faces
from nodes.face_regions import REGION_COLOURS, face_regions, region_masks
from nodes.face_rows import plan_rows
from nodes.facet5_logic import encode_flux
from nodes.identity_strength import identity_strength
from test_facet5_nodes import crops, encoder, faces, host, model, tiny_widths  # noqa: F401  (fixtures, helpers)

ROOT = Path(__file__).resolve().parents[3]
FLUX = "FaceT5 Text Encode (FLUX)"


def image_batch(*images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).float() / 255.0


@pytest.fixture(scope="module")
def batch_with_a_faceless_photo() -> torch.Tensor:
    """The astronaut, a coffee cup (no face), the astronaut mirrored: one IMAGE batch of three 512x512 photos."""
    astronaut = assets.astronaut()
    cup = np.asarray(Image.fromarray(assets.coffee()).resize((512, 512)))
    return image_batch(astronaut, cup, np.ascontiguousarray(astronaut[:, ::-1]))


# --- Detect Face: on_no_face -----------------------------------------------------------------------------------


def test_detect_face_error_stops_at_the_faceless_photo(analyzer, batch_with_a_faceless_photo):
    with pytest.raises(NoFaceError, match="image 1 of the batch of 3"):
        detect_faces(analyzer, batch_with_a_faceless_photo, "largest", 0, "error")


def test_detect_face_text_only_keeps_the_row_without_a_face(analyzer, batch_with_a_faceless_photo):
    rows, previews, crop_images, report = detect_faces(analyzer, batch_with_a_faceless_photo, "largest", 0, "text only")

    assert [row is None for row in rows] == [False, True, False]
    assert crop_images.shape == (3, 448, 448, 3) and previews.shape == (3, 512, 512, 3)
    assert crop_images[1].max() == 0  # the black face the no-face path sees
    torch.testing.assert_close(crop_images[2], torch.from_numpy(rows[2].crop.copy()).float() / 255)
    assert report.splitlines() == ["image 0: face 0 of 1 -> row 0",
                                   "image 1: no face found, row 1 takes the no-face path (text only)",
                                   "image 2: face 0 of 1 -> row 2"]
    assert not torch.equal(previews[1], batch_with_a_faceless_photo[1])  # it says so on the picture


def test_detect_face_skip_drops_the_row_and_keeps_the_others_aligned(analyzer, batch_with_a_faceless_photo):
    rows, previews, crop_images, report = detect_faces(analyzer, batch_with_a_faceless_photo, "largest", 0, "skip")
    text_only, _, _, _ = detect_faces(analyzer, batch_with_a_faceless_photo, "largest", 0, "text only")

    assert len(rows) == 2 and crop_images.shape == (2, 448, 448, 3)
    for row, crop, same in zip(rows, crop_images, (text_only[0], text_only[2])):
        np.testing.assert_array_equal(row.crop, same.crop)
        torch.testing.assert_close(crop, torch.from_numpy(row.crop.copy()).float() / 255)
    assert previews.shape[0] == 3  # every photo is shown, the skipped one labelled
    assert report.splitlines()[1:] == ["image 1: no face found, skipped", "image 2: face 0 of 1 -> row 1"]


def test_detect_face_skip_with_no_face_anywhere_is_an_error(analyzer, batch_with_a_faceless_photo):
    with pytest.raises(NoFaceError, match="No face found in any of the 1 images"):
        detect_faces(analyzer, batch_with_a_faceless_photo[1:2], "largest", 0, "skip")


def test_detect_face_preview_labels_the_row_each_face_went_to(analyzer, batch_with_a_faceless_photo):
    _, labelled, _, _ = detect_faces(analyzer, batch_with_a_faceless_photo[:1], "largest", 0, "error")
    from faceclip_core.face import draw_preview

    [result] = analyzer.analyze(batch_with_a_faceless_photo[:1])
    photo = (batch_with_a_faceless_photo[0] * 255).round().to(torch.uint8).numpy()
    expected = draw_preview(photo, result.faces, result.picked_index, picked_label="-> row 0")
    np.testing.assert_array_equal((labelled[0] * 255).round().to(torch.uint8).numpy(), expected)
    assert not np.array_equal(expected, draw_preview(photo, result.faces, result.picked_index))


# --- Text Encode: on_no_face -----------------------------------------------------------------------------------


def rows_with_a_gap() -> list[Face | None]:
    first, second = faces(0, 1)
    return [first, None, second]


def encoded(encoder, reference: list[Face] | None, prompts: list[str], face_index: list[int | None]) -> torch.Tensor:
    with torch.inference_mode():
        features = None if reference is None else encoder.encode_faces(crops(reference))
        return encoder(features, prompts, face_index)[0]


def test_text_encode_error_names_the_rows_without_a_face(encoder, host, tiny_widths):
    with pytest.raises(UsageError, match=r"no face in row 1 \(Detect Face's on_no_face passed them on\): set on_no_face"):
        encode_flux(model(encoder, host), "a portrait", "one per face", False, rows_with_a_gap(), "error")


def test_text_encode_text_only_gives_that_row_the_no_face_path(encoder, host, tiny_widths):
    rows = rows_with_a_gap()
    [[context, extras]], report = encode_flux(model(encoder, host), "a portrait", "one per face", False, rows, "text only")

    assert context.shape[0] == extras["pooled_output"].shape[0] == 3
    expected = encoded(encoder, [rows[0], rows[2]], ["a portrait"] * 3, [0, None, 1])
    torch.testing.assert_close(context, expected, rtol=0, atol=0)
    torch.testing.assert_close(context[1:2], encoder.encode(None, ["a portrait"])[0], rtol=0, atol=0)
    assert report.splitlines() == ["row 0: face row 0", "row 1: face row 1 has no face, no-face path (text only)",
                                   "row 2: face row 2"]


def test_text_encode_skip_drops_the_row_and_keeps_prompts_with_their_faces(encoder, host, tiny_widths):
    rows = rows_with_a_gap()
    [[context, _]], report = encode_flux(model(encoder, host), "a cat\na dog\na fox", "one per face", True, rows, "skip")

    torch.testing.assert_close(context, encoded(encoder, [rows[0], rows[2]], ["a cat", "a fox"], [0, 1]), rtol=0, atol=0)
    assert report.splitlines()[-1] == "face row 1 without a face skipped: 2 conditioning rows"


@pytest.mark.parametrize("on_no_face", ["text only", "skip"])
def test_first_and_average_leave_the_faceless_row_out(encoder, host, tiny_widths, on_no_face):
    rows = rows_with_a_gap()
    [[average, _]], _ = encode_flux(model(encoder, host), "a portrait", "average", False, rows, on_no_face)
    tokens = encoder.encode_faces(crops([rows[0], rows[2]])).mean(0, keepdim=True)
    with torch.inference_mode():
        torch.testing.assert_close(average, encoder(tokens, ["a portrait"], [0])[0], rtol=0, atol=0)

    faceless_first = [None, rows[2]]
    [[first, _]], report = encode_flux(model(encoder, host), "a portrait", "first", False, faceless_first, on_no_face)
    # text only: the first row is the first reference, and it has no face; skip: the first row that has one
    expected = encoded(encoder, None, ["a portrait"], [None]) if on_no_face == "text only" else \
        encoded(encoder, [rows[2]], ["a portrait"], [0])
    torch.testing.assert_close(first, expected, rtol=0, atol=0)
    assert "row 0" in report


def test_rows_that_cannot_be_planned_are_refused():
    with pytest.raises(UsageError, match="3 face rows and 2 prompts"):
        plan_rows(rows_with_a_gap(), ["a", "b"], "one per face", "text only", FLUX)
    with pytest.raises(UsageError, match="no row of the face input has a face and on_no_face is 'skip'"):
        plan_rows([None, None], ["a"], "average", "skip", FLUX)
    plan = plan_rows([None, None], ["a"], "average", "text only", FLUX)
    assert plan.faces is None and plan.face_index == [None]
    with pytest.raises(UsageError, match="must be a FACE from FaceCLIP Detect Face"):
        plan_rows([], ["a"], "first", "error", FLUX)


# --- Identity strength -----------------------------------------------------------------------------------------


def conditioning(seed: int, rows: int = 2) -> list:
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(rows, 77, 32, generator=generator),
             {"pooled_output": torch.randn(rows, 16, generator=generator), "width": 864, "height": 1152}]]


@pytest.mark.parametrize("strength", [0.0, 1.0, 0.4, 1.5])
def test_identity_strength_is_the_formula(strength):
    face, no_face = conditioning(0), conditioning(1)
    [[context, keys]] = identity_strength(face, no_face, strength)

    (f, fk), (n, nk) = face[0], no_face[0]
    torch.testing.assert_close(context, n + strength * (f - n))
    torch.testing.assert_close(keys["pooled_output"], nk["pooled_output"] + strength * (fk["pooled_output"] - nk["pooled_output"]))
    # s = 0 and 1 give the two conditionings exactly
    if strength == 0.0:
        torch.testing.assert_close(context, n, rtol=0, atol=0)
    if strength == 1.0:
        torch.testing.assert_close(context, f, rtol=0, atol=0)
    assert keys["width"] == 864 and fk["pooled_output"] is not keys["pooled_output"]  # inputs untouched


def test_identity_strength_takes_one_no_face_row_for_every_prompt_row_and_refuses_mismatches():
    face, no_face = conditioning(0, rows=3), conditioning(1, rows=1)
    [[context, _]] = identity_strength(face, no_face, 0.5)
    torch.testing.assert_close(context, (face[0][0] + no_face[0][0]) / 2)
    with pytest.raises(UsageError, match=r"the pooled output of the face conditioning is \(3, 16\) and of the no-face one \(2, 16\)"):
        identity_strength(face, conditioning(1, rows=2), 0.5)
    with pytest.raises(UsageError, match="not CONDITIONING"):
        identity_strength(face, torch.zeros(1), 0.5)


# --- Region masks ----------------------------------------------------------------------------------------------


def face_at(x1: float, x2: float) -> Face:
    return Face(bbox=np.array([x1, 10, x2, 60], np.float32), kps=np.zeros((5, 2), np.float32), score=1.0,
                crop=np.full((448, 448, 3), 200, np.uint8), embedding=None)


def test_halves_give_face_a_the_left_half():
    a, b = region_masks(face_at(600, 700), face_at(100, 200), "left/right halves", 64, 32)
    assert a.shape == b.shape == (1, 32, 64)
    assert a[..., :32].min() == 1 and a[..., 32:].max() == 0
    torch.testing.assert_close(a + b, torch.ones(1, 32, 64))


def test_the_split_follows_the_faces_in_the_group_photo():
    # centres at 0.2 and 0.7 of a 1000 px photo: the split at 0.45 of the output width, A on its side
    a, b = region_masks(face_at(150, 250), face_at(650, 750), "split between the faces", 200, 40, photo_width=1000)
    assert a[0, 0].tolist() == [1.0] * 90 + [0.0] * 110
    torch.testing.assert_close(a + b, torch.ones(1, 40, 200))
    swapped, _ = region_masks(face_at(650, 750), face_at(150, 250), "split between the faces", 200, 40, photo_width=1000)
    assert swapped[0, 0].tolist() == [0.0] * 90 + [1.0] * 110
    with pytest.raises(UsageError, match="same face of the photo"):
        region_masks(face_at(150, 250), face_at(150, 250), "split between the faces", 200, 40, photo_width=1000)
    with pytest.raises(UsageError, match="connect that group photo to the image input"):
        region_masks(face_at(150, 250), face_at(650, 750), "split between the faces", 200, 40)


def test_regions_from_the_template_group_photo(analyzer):
    photo = np.asarray(Image.open(ROOT / "example_workflows" / "input" / "faceclip_two_people.jpg").convert("RGB"))
    image = image_batch(photo)
    face_a, _, _, _ = detect_faces(analyzer, image, "index", 0)
    face_b, _, _, _ = detect_faces(analyzer, image, "index", 1)

    mask_a, mask_b, preview = face_regions(face_a, face_b, "split between the faces", 1216, 832, image)

    centres = [float(f[0].bbox[0] + f[0].bbox[2]) / 2 / photo.shape[1] for f in (face_a, face_b)]
    column = round(sum(centres) / 2 * 1216)
    assert mask_a[0, :, :column].min() == 1 and mask_a[0, :, column:].max() == 0
    torch.testing.assert_close(mask_a + mask_b, torch.ones(1, 832, 1216))
    assert preview.shape == (1, 832, 1216, 3)
    # each region is tinted in its colour: green on A's side, blue on B's, over the same photo
    a_pixel, b_pixel = preview[0, 400, column // 2], preview[0, 400, (column + 1216) // 2]
    assert a_pixel[1] > a_pixel[2] and b_pixel[2] > b_pixel[1]
    assert REGION_COLOURS[0][1] > REGION_COLOURS[0][2] and REGION_COLOURS[1][2] > REGION_COLOURS[1][1]
    with pytest.raises(UsageError, match="face_b input's first row has no face"):
        face_regions(face_a, [None], "left/right halves", 64, 64)
