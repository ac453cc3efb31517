"""ID-EA training on tiny SDXL-shaped stand-ins: learning, frozen base, resume, cancel, progress."""
from __future__ import annotations

import pytest
import torch

from faceclip_core.idea import AnchorBank, IDEATrainer, TrainConfig, load_names, prepare_training_set
from faceclip_core.idea.errors import TrainingCancelled
from idea_stand_ins import TINY_CONFIG, ColourFaceEmbedder, make_models, make_photos, single_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("single_thread")

SETTINGS = TrainConfig(steps=4, batch_size=4, micro_batch=2, resolution=32, save_every=2)


def frozen(*modules: torch.nn.Module) -> None:
    for module in modules:
        module.requires_grad_(False)


def make_trainer(train: TrainConfig = SETTINGS, fingerprint: str = "tiny") -> tuple[IDEATrainer, tuple]:
    encoder, unet, vae = make_models()
    frozen(encoder, unet, vae)
    data = prepare_training_set(make_photos(), ColourFaceEmbedder(), vae, train.resolution)
    anchor = AnchorBank.from_names(load_names(), encoder)
    return IDEATrainer(encoder, unet, anchor, data, TINY_CONFIG, train, base_fingerprint=fingerprint), (encoder, unet)


def trained_tensors(trainer: IDEATrainer) -> dict[str, torch.Tensor]:
    return {"tokens_l": trainer.tokens_l, "tokens_g": trainer.tokens_g,
            **{f"enhancer.{k}": v for k, v in trainer.enhancer.state_dict().items()},
            **{f"adapter.{k}": v for k, v in trainer.adapter.state_dict().items()}}


def test_loss_goes_down_on_a_fixed_batch():
    trainer, _ = make_trainer(TrainConfig(batch_size=4, micro_batch=4, resolution=32, token_lr_per_sample=2e-2, module_lr=3e-3))
    batch = trainer.sample_batch()
    losses = [trainer.step(batch) for _ in range(15)]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] < losses[0] * 0.97, losses


def test_only_tokens_enhancer_and_adapter_change():
    trainer, (encoder, unet) = make_trainer()
    base_before = {k: v.clone() for m in (encoder, unet) for k, v in m.state_dict().items()}
    trained_before = {k: v.detach().clone() for k, v in trained_tensors(trainer).items()}
    trainer.run()
    base_after = {k: v for m in (encoder, unet) for k, v in m.state_dict().items()}
    assert all(torch.equal(base_before[k], base_after[k]) for k in base_before)
    changed = {k for k, v in trained_tensors(trainer).items() if not torch.equal(v, trained_before[k])}
    for part in ("tokens_l", "tokens_g", "adapter.gamma", "adapter.attn.to_out.weight", "enhancer.proj.weight"):
        assert part in changed


def test_resume_after_cancel_equals_an_uninterrupted_run(tmp_path):
    uninterrupted, _ = make_trainer()
    expected = uninterrupted.run()

    state = tmp_path / "run.state.pt"
    first, _ = make_trainer()
    with pytest.raises(TrainingCancelled, match="resume"):
        first.run(state, should_stop=lambda: first.step_count == 2)
    resumed, _ = make_trainer()
    seen = []
    result = resumed.run(state, progress=lambda done, total, loss: seen.append((done, total)))

    assert seen == [(3, 4), (4, 4)]
    assert result.losses == expected.losses
    for key, value in trained_tensors(uninterrupted).items():
        assert torch.equal(value, trained_tensors(resumed)[key]), key
