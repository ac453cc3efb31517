"""Stage 1 on tiny configs of the real code: learning, frozen parts, resume, two processes, export."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from faceclip_core.encoders.sdxl.config import tiny_config
from faceclip_core.errors import UsageError
from faceclip_core.encoders.sdxl.loader import load_encoder
from faceclip_core.train.config import Stage1Config, Stage1Model, load_config
from faceclip_core.train.export import OFFICIAL_NAME, SAFETENSORS_NAME
from faceclip_core.train.loop import build_optimizer
from faceclip_core.train.prepare import PrepareOptions, prepare
from faceclip_core.train.runs import run_stage1
from faceclip_core.train.shards import read_index
from faceclip_core.train.stage1 import Stage1Decoder, build_objective, collate, image_size, is_trainable
from faceclip_core.train.stage1_init import initial_encoder
from faceclip_core.train.stream import BatchStream, Position
from tiny_faceclip import make_tiny_encoder, random_faces
from tiny_training import (StandInAnalyzer, assert_same_training_state, logged, stage1_config, torchrun, write_models,
                           write_photo_folder)

pytest.importorskip("tqdm", reason="the train extra (requirements-train.txt) is not installed")
pytest.importorskip("tensorboard", reason="the train extra (requirements-train.txt) is not installed")
REPO = Path(__file__).resolve().parents[3]
STEPS = 4


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage1")
    write_photo_folder(root / "photos", identities=4, per_identity=3)
    options = PrepareOptions(min_face=64, min_image_side=32, shard_size=2, val_identities=1, identity_from_folder=True)
    prepare(root / "photos", root / "data", StandInAnalyzer(), options)
    return root, write_models(root / "models")


def config(files, name: str, steps: int = STEPS, extra: str = "", run: str = "", data_keys: str = "") -> Path:
    root, models = files
    return stage1_config(root / f"{name}.toml", root / "data", models, root / name, steps, extra=extra, run=run,
                         data_keys=data_keys)


def first_batch(cfg: Stage1Config, objective):
    stream = BatchStream(read_index(cfg.data.train), cfg.data.streams, cfg.run.batch_size, 0, 1, cfg.run.seed,
                         Stage1Decoder(image_size(objective)), collate)
    return next(stream(Position(), prefetch=False))[1]


@pytest.fixture(scope="module")
def uninterrupted(files):
    cfg = load_config(config(files, "uninterrupted"), Stage1Config)
    cfg.data.val = str(files[0] / "data" / "val")
    return run_stage1(cfg), Path(cfg.run.out)


def test_overfitting_a_fixed_batch_halves_the_loss(files):
    cfg = load_config(config(files, "overfit"), Stage1Config)
    objective = build_objective(cfg).train()
    batch = first_batch(cfg, objective)
    optimizer = build_optimizer(objective, cfg.optim)
    losses = []
    for _ in range(5):
        loss, metrics = objective(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert set(metrics) == {f"{b}/{t}" for b in "lg" for t in ("face", "text", "image")}
    assert losses[-1] <= losses[0] / 2, losses


def test_frozen_parameters_stay_bit_identical_and_only_intended_ones_get_gradients(files):
    cfg = load_config(config(files, "frozen"), Stage1Config)
    objective = build_objective(cfg).train()
    before = {k: v.clone() for k, v in objective.state_dict().items()}
    loss, _ = objective(first_batch(cfg, objective))
    loss.backward()
    with_grad = {n for n, p in objective.named_parameters() if p.grad is not None}
    intended = {n for n, _ in objective.named_parameters()
                if n.startswith("parts.") and "_head." in n
                or n.startswith("encoder.face_clip_") and is_trainable(n.split(".", 2)[2], 2)}
    assert with_grad == intended
    assert not any(n.split(".", 2)[2].startswith(("face_encoder.", "transformer.", "token_embedding", "fuser.enc_output"))
                   for n in intended if n.startswith("encoder."))
    # the identity token reaches the loss through the frozen text tower
    assert objective.encoder.face_clip_g.proj1.weight.grad.abs().sum() > 0
    assert not objective.encoder.face_clip_l.face_encoder.training  # BatchNorm keeps its statistics
    build_optimizer(objective, cfg.optim).step()
    after = objective.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    nonzero = {n for n, p in objective.named_parameters() if p.grad is not None and p.grad.any()}
    assert nonzero <= changed <= intended  # every frozen tensor (and buffer) is bit-identical


def test_resume_equals_an_uninterrupted_run(files, uninterrupted):
    _, out_full = uninterrupted
    interrupted = config(files, "interrupted", steps=STEPS // 2)
    run_stage1(load_config(interrupted, Stage1Config))
    resumed = config(files, "interrupted", steps=STEPS)  # same run folder, more steps: resumes from step 2
    out_resumed = Path(load_config(resumed, Stage1Config).run.out)
    assert (out_resumed / "checkpoints" / "step-0000002").is_dir()
    run_stage1(load_config(resumed, Stage1Config))
    full = torch.load(out_full / "checkpoints" / "step-0000004" / "state.pt", weights_only=True)
    again = torch.load(out_resumed / "checkpoints" / "step-0000004" / "state.pt", weights_only=True)
    assert full["step"] == STEPS
    assert_same_training_state(full, again)


def test_two_processes_equal_one_at_the_same_global_batch(files, uninterrupted):
    """torchrun, 2 CPU processes over gloo, each with half of the global batch of 4.

    Tolerance: losses 1e-5 relative at every step; weights 1e-4 absolute after 4 AdamW steps of lr 1e-3
    (2.5% of the most a weight can move). Gradients differ only by fp32 reduction order, but Adam
    divides by sqrt(v), so weights whose true gradient is ~0 (biases a softmax is invariant to) move
    by up to lr on that rounding noise, in either run.
    """
    _, out_one = uninterrupted
    path = config(files, "two_processes")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "faceclip_core.train", "stage1", "--config", str(path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out_two = files[0] / "two_processes"
    assert logged(out_two, "loss") == pytest.approx(logged(out_one, "loss"), rel=1e-5)
    for term in ("l/face", "g/text", "g/image"):
        assert logged(out_two, term) == pytest.approx(logged(out_one, term), rel=1e-5)
    one = load_file(out_one / "export" / SAFETENSORS_NAME)
    two = load_file(out_two / "export" / SAFETENSORS_NAME)
    initial = load_file(files[1]["encoder"])
    assert any(not torch.equal(one[k], initial[k]) for k in one), "the reference run trained nothing"
    for key in one:
        torch.testing.assert_close(two[key], one[key], atol=1e-4, rtol=0, msg=key)


def test_fsdp_two_processes_equal_one(files, uninterrupted):
    """FSDP2 over 2 gloo processes (towers, heads and the objective's own parameters sharded; the 0-d logit
    scales and biases replicated), validation included. Tolerances as under DDP above."""
    _, out_one = uninterrupted
    torchrun("stage1", config(files, "fsdp", run='parallel = "fsdp"\n', data_keys=f'val = "{files[0] / "data" / "val"}"\n'))
    out_two = files[0] / "fsdp"
    assert logged(out_two, "loss") == pytest.approx(logged(out_one, "loss"), rel=1e-5)
    for name in "lg":
        assert logged(out_two, f"val/{name}_identity_top1") == logged(out_one, f"val/{name}_identity_top1")
    one, two = load_file(out_one / "export" / SAFETENSORS_NAME), load_file(out_two / "export" / SAFETENSORS_NAME)
    assert two.keys() == one.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], atol=1e-4, rtol=0, msg=key)


def test_export_loads_through_the_loader_with_identical_outputs(uninterrupted):
    objective, out = uninterrupted
    trained = objective.encoder.eval()
    faces, prompts = random_faces(2), ["a person on a beach", "a person reading"]
    expected = trained.encode(faces, prompts)
    loaded = load_encoder(out / "export" / SAFETENSORS_NAME)
    assert set(loaded.state_dict()) == set(trained.state_dict())  # no training heads
    for ours, theirs in zip(expected, loaded.encode(faces, prompts)):
        torch.testing.assert_close(theirs, ours, atol=0, rtol=0)
    # the released layout: 16-bit, 'model.' prefix; identical to the trained encoder cast to bf16
    official = load_encoder(out / "export" / OFFICIAL_NAME, dtype=torch.bfloat16, config=tiny_config())
    reference = load_encoder(out / "export" / SAFETENSORS_NAME, dtype=torch.bfloat16)
    for ours, theirs in zip(reference.encode(faces, prompts), official.encode(faces, prompts)):
        torch.testing.assert_close(theirs, ours, atol=0, rtol=0)


def test_validation_reports_identity_retrieval(uninterrupted):
    _, out = uninterrupted
    assert len(logged(out, "samples/s")) == STEPS and len(logged(out, "lr")) == STEPS
    for name in "lg":
        assert 0.0 <= logged(out, f"val/{name}_identity_top1")[-1] <= 1.0


def test_missing_inputs_name_the_fix(files):
    cfg = load_config(config(files, "broken", extra=""), Stage1Config)
    cfg.model.image_tower_g = ""
    with pytest.raises(UsageError, match="image_tower_g is not set.*image_weight = 0"):
        build_objective(cfg)
    cfg.model.image_tower_g, cfg.model.encoder = files[1]["image_tower_g"], str(files[0] / "nope.pt")
    with pytest.raises(UsageError, match="model.encoder = .*nope.pt does not exist"):
        build_objective(cfg)


def test_start_from_base_towers(tmp_path):
    """open_clip text towers (with their image tower and logit scale beside) and an arcface_torch ViT."""
    towers = make_tiny_encoder(seed=3)
    files = {}
    for name in "lg":
        branch = getattr(towers, f"face_clip_{name}")
        text = {k: v for k, v in branch.state_dict().items() if k.startswith(("token_embedding", "positional", "transformer.", "ln_final", "text_projection"))}
        files[name] = tmp_path / f"open_clip_{name}.safetensors"
        save_file({**text, "logit_scale": torch.tensor(4.6), "visual.proj": torch.zeros(2, 2)}, str(files[name]))
    face_vit = tmp_path / "arcface_vit.pt"
    torch.save(towers.face_clip_l.face_encoder.state_dict(), face_vit)
    encoder = initial_encoder(Stage1Model(text_l=str(files["l"]), text_g=str(files["g"]), face_vit=str(face_vit), architecture="tiny"), seed=0)
    for name in "lg":
        ours, theirs = getattr(encoder, f"face_clip_{name}").state_dict(), getattr(towers, f"face_clip_{name}").state_dict()
        for key in theirs:
            if key.startswith(("transformer.", "token_embedding", "ln_final", "text_projection", "face_encoder.")):
                torch.testing.assert_close(ours[key], theirs[key] if not key.startswith("face_encoder.") else
                                           towers.face_clip_l.state_dict()[key], atol=0, rtol=0, msg=key)
        assert ours["logit_scale"].item() == pytest.approx(2.6593, abs=1e-4)  # FaceCLIP's own init, not open_clip's
    with pytest.raises(UsageError, match="model.text_g, model.face_vit"):
        initial_encoder(Stage1Model(text_l=str(files["l"]), architecture="tiny"), seed=0)
