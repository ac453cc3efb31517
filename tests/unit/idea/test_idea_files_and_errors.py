"""ID-EA modules, saved files in the host's formats, and the errors users hit."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from faceclip_core.errors import CheckpointError, NoFaceError, UsageError
from faceclip_core.idea import (AnchorBank, IDEATrainer, TrainConfig, load_idea_weights,
                                load_names, prepare_training_set, save_training_result)
from faceclip_core.idea.adapter import IDAdapter
from faceclip_core.idea.enhancer import IDEnhancer
from faceclip_core.idea.errors import BaseModelMismatch
from idea_stand_ins import (SDXL_WIDTHS, SETTINGS, TINY_CONFIG, ColourFaceEmbedder, TinyPromptEncoder, make_models,  # noqa: F401
                            make_photos, make_trainer, sdxl_width_result, single_thread)

pytestmark = pytest.mark.usefixtures("single_thread")


def test_names_list_is_several_hundred_distinct_names():
    names = load_names()
    assert len(names) >= 500 and len(set(names)) == len(names)


def test_gamma_zero_leaves_the_context_unchanged_exactly():
    adapter = IDAdapter(TINY_CONFIG)
    context, identity = torch.randn(2, 16, 80), torch.randn(1, 2, 80)
    assert torch.equal(adapter(context, identity), context)
    with torch.no_grad():
        assert torch.equal(adapter(context, identity), context)
        adapter.gamma.fill_(0.5)
        assert not torch.equal(adapter(context, identity), context)
        assert torch.equal(adapter(context, identity, strength=0.0), context)


def test_enhancer_output_shape():
    tokens = IDEnhancer(TINY_CONFIG)(torch.randn(3, 512), torch.randn(10, 80))
    assert tokens.shape == (3, TINY_CONFIG.num_tokens, 80)


def test_saved_embedding_has_the_layout_of_host_sdxl_embeddings(tmp_path):
    result, _ = sdxl_width_result()
    embedding_path, weights_path = save_training_result(result, SDXL_WIDTHS, tmp_path, "jane", "abc123")
    assert embedding_path.name == "jane.safetensors" and weights_path.name == "jane.idea.safetensors"
    # ComfyUI's load_embed reads the file with safetensors and takes embed["clip_l"] / embed["clip_g"]
    embedding = load_file(embedding_path)
    assert set(embedding) == {"clip_l", "clip_g"}
    assert embedding["clip_l"].shape == (2, 768) and embedding["clip_g"].shape == (2, 1280)
    assert embedding["clip_l"].dtype == torch.float32
    assert not list(tmp_path.glob("*.partial"))


def test_weights_round_trip_and_apply(tmp_path):
    result, _ = sdxl_width_result()
    with torch.no_grad():
        result.adapter.gamma.fill_(1.0)
    _, weights_path = save_training_result(result, SDXL_WIDTHS, tmp_path, "jane", "abc123")
    weights = load_idea_weights(weights_path)
    assert weights.metadata["steps"] == "7" and weights.metadata["base_model"] == "abc123"
    assert weights.metadata["num_tokens"] == "2"
    context = torch.randn(1, 154, 2048)
    expected = result.adapter(context, result.enhancer(result.face.view(1, -1), result.anchor.embeddings)).detach()
    torch.testing.assert_close(weights.apply(context), expected)
    assert torch.equal(weights.apply(context, strength=0.0), context)


def test_conditioning_of_another_base_model_is_refused(tmp_path):
    result, _ = sdxl_width_result()
    _, weights_path = save_training_result(result, SDXL_WIDTHS, tmp_path, "jane", "abc123")
    with pytest.raises(BaseModelMismatch, match="width 768.*SDXL checkpoint"):
        load_idea_weights(weights_path).apply(torch.randn(1, 77, 768))


def test_embedding_file_given_as_weights_says_which_file_to_pick(tmp_path):
    result, _ = sdxl_width_result()
    embedding_path, _ = save_training_result(result, SDXL_WIDTHS, tmp_path, "jane", "abc123")
    with pytest.raises(CheckpointError, match="pick the .idea.safetensors"):
        load_idea_weights(embedding_path)


def test_a_photo_without_a_face_is_named():
    photos = make_photos(3)
    photos[1] = torch.zeros_like(photos[1])
    with pytest.raises(NoFaceError, match=r"photo #1 of 3\. Remove it"):
        prepare_training_set(photos, ColourFaceEmbedder(), make_models()[2], 32)


def test_one_photo_is_not_enough():
    with pytest.raises(UsageError, match="at least 2 photos.*got 1. Add more photos"):
        prepare_training_set(make_photos(1), ColourFaceEmbedder(), make_models()[2], 32)


def test_text_encoders_of_another_base_model_are_refused():
    encoder, unet, vae = make_models()
    data = prepare_training_set(make_photos(2), ColourFaceEmbedder(), vae, 32)
    sd15_like = TinyPromptEncoder(32, 32)
    with pytest.raises(BaseModelMismatch, match="Load an SDXL checkpoint"):
        IDEATrainer(sd15_like, unet, AnchorBank.from_names(load_names(), sd15_like), data, TINY_CONFIG, SETTINGS)


def test_resuming_on_another_base_model_is_refused(tmp_path):
    state = tmp_path / "run.state.pt"
    trainer, _ = make_trainer(TrainConfig(steps=1, batch_size=2, micro_batch=2, resolution=32), fingerprint="model-a")
    trainer.run(state)
    other, _ = make_trainer(TrainConfig(steps=2, batch_size=2, micro_batch=2, resolution=32), fingerprint="model-b")
    with pytest.raises(BaseModelMismatch, match="same SDXL checkpoint.*or delete"):
        other.run(state)
