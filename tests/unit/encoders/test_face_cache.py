"""The face features kept across encode calls (queue runs): bit-identical outputs, invalidation, bounds, no growth.

On tiny models of both encoders built by the real code. Whether the face ViTs ran is counted with forward hooks.
"""
from __future__ import annotations

import gc
import weakref

import pytest
import torch

from faceclip_core.encoders.face_cache import ENTRIES_ENV, MEGABYTES_ENV, FaceCache, content_key, tensor_bytes
from faceclip_core.encoders.t5.loader import load_facet5
from faceclip_core.errors import UsageError
from tiny_faceclip import make_tiny_encoder, random_faces
from tiny_facet5 import write_tiny_facet5

PROMPTS = ["a person on a beach at sunset", "a portrait in a studio, soft light"]
OTHER_PROMPTS = ["an astronaut on the moon", "reading in a cafe, film photo"]


@pytest.fixture(scope="module")
def facet5_file(tmp_path_factory):
    return write_tiny_facet5(tmp_path_factory.mktemp("facet5") / "face_t5_encoder.pt")


@pytest.fixture(params=["sdxl", "facet5"])
def encoder(request, facet5_file):
    return make_tiny_encoder() if request.param == "sdxl" else load_facet5(facet5_file)


def face_vits(encoder) -> list[torch.nn.Module]:
    if hasattr(encoder, "face_clip_l"):
        return [encoder.face_clip_l.face_encoder, encoder.face_clip_g.face_encoder]
    return [encoder.encoder_2.face_encoder]


class FaceRuns:
    """Counts face ViT forwards on real crops (the black no-face crop has its own cache)."""

    def __init__(self, encoder):
        self.count = 0
        self.hooks = [vit.register_forward_hook(self._seen) for vit in face_vits(encoder)]

    def _seen(self, _module, inputs, _output):
        self.count += int(inputs[0].abs().sum() > 0)


def uncached(encoder, faces, prompts):
    saved, encoder.face_cache = encoder.face_cache, FaceCache(max_entries=0)
    try:
        return encoder.encode(faces, prompts)
    finally:
        encoder.face_cache = saved


def test_same_face_new_prompts_runs_only_the_text_side_with_identical_outputs(encoder):
    face = random_faces(1)
    runs = FaceRuns(encoder)
    encoder.encode(face, PROMPTS)
    ran_first = runs.count
    context, pooled = encoder.encode(face.clone(), OTHER_PROMPTS)  # equal content, another tensor: a new queue run

    assert ran_first > 0 and runs.count == ran_first
    expected_context, expected_pooled = uncached(encoder, face, OTHER_PROMPTS)
    assert runs.count == 2 * ran_first
    assert torch.equal(context, expected_context) and torch.equal(pooled, expected_pooled)


def test_a_different_face_is_computed(encoder):
    runs = FaceRuns(encoder)
    encoder.encode(random_faces(1, seed=1), PROMPTS)
    once = runs.count
    context, _ = encoder.encode(random_faces(1, seed=2), PROMPTS)
    assert runs.count == 2 * once
    assert torch.equal(context, uncached(encoder, random_faces(1, seed=2), PROMPTS)[0])


def test_new_weights_drop_the_cached_features(encoder):
    face = random_faces(1)
    encoder.encode(face, PROMPTS)
    with torch.no_grad():  # an in-place change, as an optimizer step makes
        next(face_vits(encoder)[0].parameters()).mul_(1.5)
    runs = FaceRuns(encoder)
    context, _ = encoder.encode(face, PROMPTS)
    assert runs.count > 0
    assert torch.equal(context, uncached(encoder, face, PROMPTS)[0])

    state = {k: v * 0.9 if v.is_floating_point() else v for k, v in encoder.state_dict().items()}
    encoder.load_state_dict(state)
    ran = runs.count
    context, _ = encoder.encode(face, PROMPTS)
    assert runs.count > ran
    assert torch.equal(context, uncached(encoder, face, PROMPTS)[0])


def test_weight_dtype_change_drops_and_the_compute_device_is_a_key(encoder):
    face = random_faces(1)
    encoder.encode(face, PROMPTS)
    runs = FaceRuns(encoder)
    encoder.execution_device = torch.device("cpu", 1)  # another compute device (CPU's index is only a name)
    encoder.encode(face, PROMPTS)
    assert runs.count > 0 and len(encoder.face_cache) == 2
    encoder.execution_device = None

    encoder.to(torch.float64)  # the weights themselves converted
    assert len(encoder.face_cache) == 0
    encoder.execution_dtype = torch.float64  # FaceT5 computes fp32 for weights in other dtypes than 16/32-bit
    ran = runs.count
    context, _ = encoder.encode(face, PROMPTS)
    assert runs.count > ran and context.dtype == torch.float64
    assert torch.equal(context, uncached(encoder, face, PROMPTS)[0])


def test_moving_the_weights_away_and_back_keeps_the_features(encoder):
    """A host offloads the encoder after each run and loads it again for the next: same values, same features."""
    face = random_faces(1)
    encoder.encode(face, PROMPTS)
    encoder._apply(lambda t: t.clone())  # what .to(other device) does: new storage, same values and dtype
    runs = FaceRuns(encoder)
    encoder.encode(face, OTHER_PROMPTS)
    assert runs.count == 0


def test_training_and_gradients_are_not_cached(encoder):
    face = random_faces(1)
    with torch.no_grad():
        cached = encoder.cached_faces(face)
    features = encoder.cached_faces(face)  # gradients on: computed, with its graph
    assert len(encoder.face_cache) == 1 and features is not cached
    encoder.train()
    with torch.no_grad():
        encoder.cached_faces(random_faces(2, seed=5))  # BatchNorm trains on 2 or more
    assert len(encoder.face_cache) == 1


def test_fake_tensors_are_encoded_without_the_cache(encoder):
    """Memory and FLOP estimates run encode() on fake tensors, which have no bytes to key a crop on."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True) as mode, torch.no_grad():
        encoder.cached_faces(mode.from_tensor(random_faces(1)))  # raised "numpy() is not supported" before
    assert len(encoder.face_cache) == 0


def test_count_bound_drops_the_least_recently_used(encoder):
    encoder.face_cache.max_entries = 2
    faces = [random_faces(1, seed=s) for s in range(3)]
    with torch.no_grad():
        first = encoder.cached_faces(faces[0])
        encoder.cached_faces(faces[1])
        assert encoder.cached_faces(faces[0]) is first  # used again: now the most recent
        encoder.cached_faces(faces[2])  # drops faces[1]
        assert len(encoder.face_cache) == 2
        assert encoder.cached_faces(faces[0]) is first
        runs = FaceRuns(encoder)
        encoder.cached_faces(faces[1])
    assert runs.count > 0


def test_byte_bound_and_off_switch(encoder):
    face = random_faces(1)
    with torch.no_grad():
        size = tensor_bytes(encoder.encode_faces(face))
        encoder.face_cache.max_bytes = size - 1  # one entry would not fit: nothing is kept
        encoder.cached_faces(face)
        assert len(encoder.face_cache) == 0 and encoder.face_cache.bytes == 0
        encoder.face_cache.max_bytes = 2 * size
        for seed in range(4):
            encoder.cached_faces(random_faces(1, seed=seed))
        assert len(encoder.face_cache) == 2 and encoder.face_cache.bytes == 2 * size


def test_many_different_faces_do_not_grow_memory(encoder):
    with torch.no_grad():
        first = encoder.cached_faces(random_faces(1, seed=100))
        watched = weakref.ref(first if isinstance(first, torch.Tensor) else first.l.patches)
        one_entry = encoder.face_cache.bytes
        del first
        for seed in range(101, 131):
            encoder.cached_faces(random_faces(1, seed=seed))
    gc.collect()
    assert watched() is None  # the evicted features are freed, not kept anywhere
    assert len(encoder.face_cache) == encoder.face_cache.max_entries
    assert encoder.face_cache.bytes == encoder.face_cache.max_entries * one_entry


def test_settings_from_the_environment(monkeypatch, facet5_file):
    monkeypatch.setenv(ENTRIES_ENV, "0")
    encoder = make_tiny_encoder()
    assert not encoder.face_cache.enabled
    runs = FaceRuns(encoder)
    encoder.encode(random_faces(1), PROMPTS)
    encoder.encode(random_faces(1), PROMPTS)
    assert runs.count == 4  # both ViTs, both runs
    assert len(encoder.face_cache) == 0

    monkeypatch.setenv(ENTRIES_ENV, "7")
    monkeypatch.setenv(MEGABYTES_ENV, "3")
    cache = load_facet5(facet5_file).face_cache
    assert (cache.max_entries, cache.max_bytes) == (7, 3 * 2**20)
    monkeypatch.setenv(ENTRIES_ENV, "many")
    with pytest.raises(UsageError, match=f"{ENTRIES_ENV}='many' is not a whole number"):
        FaceCache.from_env()


def test_content_key_sees_values_shape_and_dtype():
    face = random_faces(1)
    assert content_key(face) == content_key(face.clone())
    changed = face.clone()
    changed[0, 0, 0, 0] += 1e-3
    assert content_key(changed) != content_key(face)
    assert content_key(face.double()) != content_key(face)
    assert content_key(face.permute(0, 3, 1, 2)) != content_key(face)
