"""ID-EA Train against stand-ins of what newer ComfyUI hosts do (tests/newer_host.py): Cancel as a BaseException
raised from inside a layer mid-step, and clones that take or refuse disable_dynamic. The real 0.3.64 host path is
tests/test_host_idea.py."""
from __future__ import annotations

import logging

import pytest
import torch

from faceclip_core.errors import UsageError
from idea_stand_ins import single_thread  # noqa: F401  (fixture)
from newer_host import DynamicCLIP, DynamicPatcher, InterruptProcessingException, LegacyCLIP, LegacyPatcher, ModelManagement
from nodes.idea_logic import frozen_for_autograd, train_until_cancel
from nodes.training_clones import training_clip, training_model
from idea_stand_ins import make_trainer
from test_idea_training import trained_tensors

pytestmark = pytest.mark.usefixtures("single_thread")


def press_cancel_during(module: torch.nn.Module, management: ModelManagement, call: int) -> None:
    """Cancel is pressed while `module` runs its call-th forward; the next layer that checks raises."""
    calls = []

    def count(*_):
        calls.append(1)
        if len(calls) == call:
            management.interrupt_current_processing()
    module.register_forward_pre_hook(count)


def test_cancel_raised_from_inside_a_layer_mid_step_saves_the_state_logs_how_to_resume_and_is_reraised(tmp_path, caplog):
    uninterrupted, _ = make_trainer()
    expected = uninterrupted.run()

    management = ModelManagement()
    first, (_, unet) = make_trainer()
    management.check_in_every_layer(unet)
    # 4 steps of batch 4 in micro-batches of 2: two UNet calls a step. Cancel in step 3's second micro-batch,
    # after its first half has gone through backward: that half-step must leave no trace.
    press_cancel_during(unet, management, call=6)
    state = tmp_path / "person.state.pt"
    with caplog.at_level(logging.INFO), pytest.raises(InterruptProcessingException) as raised:
        train_until_cancel(first, state, None, management.processing_interrupted, management)

    assert not isinstance(raised.value, Exception)  # the newest host's kind: `except Exception` would miss it
    assert raised.value is management.raised[0]  # the host's own interrupt, re-raised
    assert torch.load(state, weights_only=True)["step"] == 2
    assert f"Training stopped at step 2 of 4. Run it again with the same settings to resume from {state}." in caplog.text
    assert not management.interrupted

    resumed, _ = make_trainer()
    result = train_until_cancel(resumed, state, None, management.processing_interrupted, management)
    assert result.losses == expected.losses
    for key, value in trained_tensors(uninterrupted).items():
        assert torch.equal(value, trained_tensors(resumed)[key]), key


def test_cancel_seen_between_steps_ends_as_a_fresh_interrupt_with_the_flag_cleared(tmp_path, caplog):
    management = ModelManagement()
    trainer, _ = make_trainer()
    state = tmp_path / "person.state.pt"
    with caplog.at_level(logging.INFO), pytest.raises(InterruptProcessingException):
        train_until_cancel(trainer, state, lambda done, total, loss: management.interrupt_current_processing(),
                           management.processing_interrupted, management)
    assert torch.load(state, weights_only=True)["step"] == 1
    assert "Training stopped at step 1 of 4" in caplog.text
    assert not management.interrupted


def built_in_inference_mode() -> torch.nn.Module:
    with torch.inference_mode():  # as the host's loader nodes build models
        return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.LayerNorm(64))


def weight_bytes(model: torch.nn.Module) -> int:
    return sum(p.nbytes for p in model.parameters())


def test_a_legacy_host_trains_on_a_plain_clone_whose_inference_weights_are_copied():
    original = LegacyPatcher(built_in_inference_mode())
    with torch.inference_mode(False):
        clone = training_model(original)
        assert clone.model is original.model
        assert frozen_for_autograd(clone.model) == weight_bytes(original.model)


def test_a_dynamic_host_gives_a_static_clone_built_for_training_so_nothing_is_copied():
    original = DynamicPatcher(built_in_inference_mode(), reload=lambda: torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.LayerNorm(64)))
    with torch.inference_mode(False):  # as train_identity calls it
        clone = training_model(original)
        assert isinstance(clone, LegacyPatcher) and clone.model is not original.model
        assert frozen_for_autograd(clone.model) == 0
        x = torch.randn(2, 64, requires_grad=True)
        clone.model(x).sum().backward()
    assert x.grad is not None and all(p.grad is None for p in clone.model.parameters())


def test_a_dynamic_model_the_host_cannot_rebuild_is_refused_with_the_fix():
    with pytest.raises(UsageError, match="MODEL without dynamic VRAM.*cached_patcher_init.*Load Checkpoint.*--disable-dynamic-vram"):
        training_model(DynamicPatcher(built_in_inference_mode()))


@pytest.mark.parametrize("clip_type, patcher", [(LegacyCLIP, LegacyPatcher), (DynamicCLIP, DynamicPatcher)])
def test_the_training_clip_runs_the_model_its_patcher_loads(clip_type, patcher):
    clip = clip_type(patcher(built_in_inference_mode()) if patcher is LegacyPatcher
                     else patcher(built_in_inference_mode(), reload=built_in_inference_mode))
    clone = training_clip(clip)
    assert clone.cond_stage_model is clone.patcher.model
    assert (clone.cond_stage_model is clip.cond_stage_model) == (clip_type is LegacyCLIP)
