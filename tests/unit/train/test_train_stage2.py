"""Stage 2 on a tiny SDXL-shaped UNet: one step trains only the UNet, dropout is the no-face empty-prompt encode, export."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from faceclip_core.encoders.sdxl.config import tiny_config
from faceclip_core.errors import UsageError
from faceclip_core.train.buckets import buckets, nearest
from faceclip_core.train.config import Stage2Config, load_config
from faceclip_core.train.images import chw, encode
from faceclip_core.train.images import decode as image_decode
from faceclip_core.encoders.tokenizer import default_tokenizer
from faceclip_core.errors import CheckpointError
from faceclip_core.train.clip_score import ClipScorer
from faceclip_core.train.face_analysis import DetectedFace
from faceclip_core.train.stage1 import clip_text
from faceclip_core.train.vision_tower import clip_pixels
from faceclip_core.train.generation import GenerationValidator, generate, held_out_references
from faceclip_core.train.references import ReferenceBank, with_references
from faceclip_core.train.loop import build_optimizer
from faceclip_core.train.prepare import PrepareOptions, prepare
from faceclip_core.train.runs import run_stage2
from faceclip_core.train.shards import iter_samples, read_index
from faceclip_core.train.stage2 import (UNET_PT_NAME, UNET_SAFETENSORS_NAME, SampleDraws, Stage2Decoder, build_objective,
                                        collate, sample_seeds)
from faceclip_core.train.stream import Position
from tiny_faceclip import make_tiny_encoder
from tiny_training import (REPO, StandInAnalyzer, assert_same_training_state, logged, sharded_weights, stage2_config, torchrun,
                           write_models, write_open_clip, write_photo_folder, write_tiny_sdxl, write_vision_tower)


pytest.importorskip("diffusers", reason="the train extra (requirements-train.txt) is not installed")
pytest.importorskip("tensorboard", reason="the train extra (requirements-train.txt) is not installed")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage2")
    write_photo_folder(root / "photos", identities=2, per_identity=2)
    prepare(root / "photos", root / "data", StandInAnalyzer(), PrepareOptions(min_face=64, min_image_side=32, shard_size=2))
    models = write_models(root / "models")
    config = tiny_config()
    return root, models["encoder"], write_tiny_sdxl(root / "sdxl", config.context_dim, config.pooled_dim)


def config_file(files, name: str, steps: int = 1, extra: str = "", train: str = "", run: str = "",
                data_keys: str = "") -> Path:
    root, encoder, sdxl = files
    return stage2_config(root / f"{name}.toml", root / "data", encoder, sdxl, root / name, steps, extra, train, run, data_keys)


def load(files, name: str, steps: int = 1, extra: str = "", train: str = "", run: str = "") -> Stage2Config:
    return load_config(config_file(files, name, steps, extra, train, run), Stage2Config)


def batch_of(cfg: Stage2Config):
    shard = read_index(cfg.data.train)[0]
    decode = Stage2Decoder(cfg.train.resolution)
    return collate([decode(key, sample) for key, sample in iter_samples(shard.url)])


def test_a_step_trains_the_unet_only(files):
    cfg = load(files, "step")
    objective = build_objective(cfg).train()
    batch = batch_of(cfg)
    # SDXL size conditioning: original 64x64, centre crop at (0, 0), target 32x32
    assert batch.time_ids.tolist() == [[64, 64, 0, 0, 32, 32]] * 2
    assert [tuple(image.shape) for image in batch.images] == [(3, 32, 32)] * 2
    before = {k: v.clone() for k, v in objective.state_dict().items()}
    optimizer = build_optimizer(objective, cfg.optim)
    torch.manual_seed(0)
    loss, _ = objective(batch)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and loss > 0
    with_grad = {n.split(".")[0] for n, p in objective.named_parameters() if p.grad is not None}
    assert with_grad == {"unet"}
    changed = {k.split(".")[0] for k, v in objective.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"unet"}


def test_dropped_conditioning_is_the_no_face_empty_prompt_encode(files):
    cfg = load(files, "dropout")
    objective = build_objective(cfg).eval()
    batch = batch_of(cfg)
    both, none = [True, True], [False, False]
    faces = batch.crops.float() / 255.0
    context, pooled = objective.conditioning(batch.crops, batch.captions, both, both)
    null_context, null_pooled = objective.encoder.encode(None, ["", ""])
    torch.testing.assert_close(context, null_context, atol=0, rtol=0)
    torch.testing.assert_close(pooled, null_pooled, atol=0, rtol=0)
    context, _ = objective.conditioning(batch.crops, batch.captions, none, none)
    expected, _ = objective.encoder.encode(faces, batch.captions)
    torch.testing.assert_close(context, expected, atol=0, rtol=0)
    assert context.shape == (2, 77, tiny_config().context_dim)
    # the separate drops: the face alone is inference without a face; the prompt alone is an empty prompt with the face
    torch.testing.assert_close(objective.conditioning(batch.crops, batch.captions, both, none)[0],
                               objective.encoder.encode(None, batch.captions)[0], atol=0, rtol=0)
    torch.testing.assert_close(objective.conditioning(batch.crops, batch.captions, none, both)[0],
                               objective.encoder.encode(faces, ["", ""])[0], atol=0, rtol=0)
    assert not torch.equal(objective.conditioning(batch.crops, batch.captions, both, none)[0], null_context)


def test_run_with_ema_exports_the_unet_in_the_official_and_diffusers_layouts(files):
    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file

    cfg = load(files, "ema", steps=2, train="reference = \"other\"\n")  # the bank in the run (every photo its own person here)
    cfg.train.ema_decay = 0.5
    objective = run_stage2(cfg)
    export = Path(cfg.run.out) / "export"
    official = torch.load(export / UNET_PT_NAME, weights_only=True)
    assert official.keys() == objective.unet.state_dict().keys()
    assert any(k.startswith("down_blocks.") for k in official) and any(k.startswith("mid_block.") for k in official)
    ema = objective.trained_unet().state_dict()
    assert not all(torch.equal(ema[k], objective.unet.state_dict()[k]) for k in ema)  # the EMA is what is exported
    for key, value in load_file(export / UNET_SAFETENSORS_NAME).items():
        torch.testing.assert_close(value, official[key], atol=0, rtol=0)
        torch.testing.assert_close(value, ema[key].to(torch.bfloat16), atol=0, rtol=0)
    reloaded = UNet2DConditionModel.from_pretrained(export, local_files_only=True, low_cpu_mem_usage=False)
    assert reloaded.config.cross_attention_dim == tiny_config().context_dim


def test_stage2_errors_name_the_fix(files, tmp_path):
    cfg = load(files, "errors")
    cfg.model.sdxl = str(tmp_path)
    with pytest.raises(UsageError, match="has no unet/config.json: point it to a local diffusers SDXL folder"):
        build_objective(cfg)
    cfg.model.encoder = str(tmp_path / "missing.pt")
    with pytest.raises(UsageError, match="stage 2 needs the FaceCLIP encoder"):
        build_objective(cfg)


def test_sample_draws_depend_on_the_seed_only():
    """A sample's dropout, timestep and noise come from its own seed: the same in any batch it shares."""
    cfg = Stage2Config().train
    cfg.cond_dropout, cfg.noise_offset = 0.5, 0.1
    seeds = sample_seeds(0, Position(1, 3), 0, 4)
    assert seeds.tolist() == torch.cat([sample_seeds(0, Position(1, 3), 0, 2), sample_seeds(0, Position(1, 3), 2, 2)]).tolist()
    assert len(set(seeds.tolist())) == 4 and not torch.equal(seeds, sample_seeds(0, Position(1, 4), 0, 4))
    whole = SampleDraws.draw(seeds, [(4, 2, 2)] * 4, cfg)
    halves = [SampleDraws.draw(part, [(4, 2, 2)] * 2, cfg) for part in (seeds[:2], seeds[2:])]
    assert whole.no_face == halves[0].no_face + halves[1].no_face and whole.no_text == halves[0].no_text + halves[1].no_text
    torch.testing.assert_close(torch.stack(whole.noise), torch.stack(halves[0].noise + halves[1].noise), atol=0, rtol=0)
    torch.testing.assert_close(whole.timesteps, torch.cat([h.timesteps for h in halves]), atol=0, rtol=0)


def test_separate_dropouts_are_drawn_at_their_rates():
    cfg = Stage2Config().train
    cfg.cond_dropout, cfg.face_dropout, cfg.text_dropout = 0.0, 0.3, 0.0
    draws = SampleDraws.draw(sample_seeds(0, Position(0, 1), 0, 2000), [(1, 1, 1)] * 2000, cfg)
    assert 0.26 < sum(draws.no_face) / 2000 < 0.34 and not any(draws.no_text)
    cfg.face_dropout, cfg.text_dropout, cfg.cond_dropout = 0.0, 0.2, 0.1
    draws = SampleDraws.draw(sample_seeds(0, Position(0, 1), 0, 2000), [(1, 1, 1)] * 2000, cfg)
    joint = [f and t for f, t in zip(draws.no_face, draws.no_text)]
    assert 0.07 < sum(draws.no_face) / 2000 < 0.13 and all(joint[i] for i, f in enumerate(draws.no_face) if f)
    assert 0.25 < sum(draws.no_text) / 2000 < 0.31  # 0.1 + 0.9 * 0.2


def test_buckets_are_sdxl_sizes_with_real_size_conditioning():
    sizes = buckets(1024)
    assert len(sizes) == 41 and (1024, 1024) in sizes and all(h % 64 == 0 and w % 64 == 0 for h, w in sizes)
    assert nearest(1152, 864, sizes) == (1152, 896)  # 3:4 portrait (the official inference size)
    assert nearest(1500, 1000, sizes) == (1216, 832)  # 2:3 portrait
    assert nearest(1000, 1000, sizes) == (1024, 1024)
    assert nearest(32, 32, buckets(32)) == (32, 32) and all(h % 8 == 0 and w % 8 == 0 for h, w in buckets(32))
    portrait = (np.random.default_rng(0).uniform(0, 255, (96, 64, 3))).astype(np.uint8)
    sample = {"jpg": encode(portrait, "PNG"), "crop.png": encode(np.zeros((448, 448, 3), np.uint8), "PNG"), "txt": b"a person",
              "json": b'{"identity": "p"}'}
    pixels, _, _, time_ids, _, _ = Stage2Decoder(32, bucketed=True)("k", sample)
    height, width = nearest(96, 64, buckets(32))
    assert (height, width) == (40, 24) and pixels.shape == (3, height, width)
    assert time_ids.tolist() == [96, 64, 0, 1, height, width]  # the real size; resized to 40 x 27, crop from column 1
    square_pixels, _, _, square_ids, _, _ = Stage2Decoder(32)("k", sample)
    assert square_pixels.shape == (3, 32, 32) and square_ids.tolist() == [96, 64, 8, 0, 32, 32]


def test_a_batch_of_mixed_buckets_is_the_mean_of_its_samples(files):
    """Samples of different sizes run in separate VAE/UNet passes; the loss is the mean of the per-sample losses."""
    cfg = load(files, "mixed")
    objective = build_objective(cfg).eval()
    decode = Stage2Decoder(32, bucketed=True)
    portrait = (np.random.default_rng(1).uniform(0, 255, (96, 64, 3))).astype(np.uint8)
    crop = encode(np.full((448, 448, 3), 128, np.uint8), "PNG")
    identity = b'{"identity": "p"}'
    items = [decode("a", {"jpg": encode(portrait, "PNG"), "crop.png": crop, "txt": b"a person", "json": identity}),
             decode("b", {"jpg": encode(portrait[:64], "PNG"), "crop.png": crop, "txt": b"a person smiling", "json": identity})]
    assert items[0][0].shape != items[1][0].shape
    seeds = sample_seeds(0, Position(0, 1), 0, 2)
    mixed = collate(items)
    mixed.seeds = seeds
    alone = []
    for i, item in enumerate(items):
        single = collate([item])
        single.seeds = seeds[i : i + 1]
        alone.append(objective(single)[0])
    torch.testing.assert_close(objective(mixed)[0], (alone[0] + alone[1]) / 2, atol=1e-5, rtol=1e-5)


def checkpoint(out: Path, step: int) -> dict:
    return torch.load(out / "checkpoints" / f"step-{step:07d}" / "state.pt", weights_only=True)


@pytest.fixture(scope="module")
def straight(files):
    cfg = load(files, "straight", steps=4, train="ema_decay = 0.5\n")
    run_stage2(cfg)
    return Path(cfg.run.out)


def test_resumed_run_equals_the_straight_run_exactly(files, straight):
    run_stage2(load(files, "resumed", steps=2, train="ema_decay = 0.5\n"))
    again = load(files, "resumed", steps=4, train="ema_decay = 0.5\n")  # same run folder, more steps: resumes from step 2
    run_stage2(again)
    full, resumed = checkpoint(straight, 4), checkpoint(Path(again.run.out), 4)
    assert resumed["step"] == 4 and any(k.startswith("ema.") for k in full["weights"])
    assert_same_training_state(full, resumed)


def test_two_processes_equal_one_under_ddp(files, straight):
    """torchrun, 2 CPU processes over gloo, each with one sample of the global batch of 2.

    Tolerance: losses 1e-5 relative at every step; weights 5e-5 absolute after 4 AdamW steps of lr 1e-4
    (1/8 of the most a weight can move; nearly all agree within 2e-6). Every random draw is the same
    (per-sample seeds); only fp32 rounding differs (convolutions over 1 sample instead of 2, the order of
    the gradient mean), which Adam's division by sqrt(v) amplifies for weights with tiny gradients.
    """
    two, one = files[0] / "ddp2", straight
    torchrun("stage2", config_file(files, "ddp2", 4, train="ema_decay = 0.5\n"))
    assert logged(two, "loss") == pytest.approx(logged(one, "loss"), rel=1e-5)
    full, ddp = checkpoint(one, 4), checkpoint(two, 4)
    for key in (k for k in full["weights"] if k.startswith("unet.")):
        torch.testing.assert_close(ddp["weights"][key], full["weights"][key], atol=5e-5, rtol=0, msg=key)


def test_fsdp_two_processes_equal_one_and_resume_on_one_process(files, straight):
    """FSDP2 over 2 gloo processes (UNet and EMA sharded), 2 steps; then the same run resumed from its sharded
    checkpoint by one process to step 4. Tolerances as under DDP (same per-sample draws, fp32 rounding only)."""
    sharded = config_file(files, "fsdp", 2, train="ema_decay = 0.5\n", run='parallel = "fsdp"\n')
    torchrun("stage2", sharded)
    out = files[0] / "fsdp"
    assert logged(out, "loss") == pytest.approx(logged(straight, "loss")[:2], rel=1e-5)
    shards = sorted((out / "checkpoints" / "step-0000002" / "sharded").glob("*.distcp"))
    sizes = [f.stat().st_size for f in shards]
    assert len(sizes) == 2 and max(sizes) < 0.6 * sum(sizes), sizes  # each process wrote its half
    step2 = sharded_weights(out / "checkpoints" / "step-0000002")
    assert step2.keys() == checkpoint(straight, 2)["weights"].keys()
    for key, value in checkpoint(straight, 2)["weights"].items():
        torch.testing.assert_close(step2[key], value, atol=5e-5, rtol=0, msg=key)
    # the export gathers the shards: the EMA at step 2, in bf16
    exported = torch.load(out / "export" / UNET_PT_NAME, weights_only=True)
    for key, value in exported.items():
        torch.testing.assert_close(value, step2[f"ema.module.{key}"].to(torch.bfloat16), atol=0, rtol=0, msg=key)

    with pytest.raises(UsageError, match="was written with run.parallel = 'fsdp', this run has 'ddp'"):
        run_stage2(load(files, "fsdp", 4, train="ema_decay = 0.5\n"))
    run_stage2(load(files, "fsdp", 4, train="ema_decay = 0.5\n", run='parallel = "fsdp"\n'))
    step4 = sharded_weights(out / "checkpoints" / "step-0000004")
    assert logged(out, "loss")[-2:] == pytest.approx(logged(straight, "loss")[2:], rel=1e-5)
    for key, value in checkpoint(straight, 4)["weights"].items():
        torch.testing.assert_close(step4[key], value, atol=5e-5, rtol=0, msg=key)


def test_reference_crop_from_another_photo_of_the_same_person(tmp_path):
    write_photo_folder(tmp_path / "photos", identities=3, per_identity=3)
    for extra in ("photo1", "photo2"):  # person2 keeps one photo
        (tmp_path / "photos" / "person2" / f"{extra}.png").unlink()
    options = PrepareOptions(min_face=64, min_image_side=32, shard_size=2, identity_from_folder=True)
    prepare(tmp_path / "photos", tmp_path / "data", StandInAnalyzer(), options)
    shards = read_index(tmp_path / "data" / "train")
    samples = {key: sample for shard in shards for key, sample in iter_samples(shard.url)}
    person = {key: json.loads(sample["json"])["identity"] for key, sample in samples.items()}
    bank = ReferenceBank(shards)
    assert sorted(len(v) for v in bank.by_identity.values()) == [1, 3, 3]
    for key, identity in person.items():
        picks = {bank.other_crop(key, identity, seed) for seed in range(8)}
        own = samples[key]["crop.png"]
        if identity == "person2":
            assert picks == {None}
        else:  # both other photos of the person, never its own
            assert picks == {samples[k]["crop.png"] for k, i in person.items() if i == identity and k != key} and own not in picks
    decode = Stage2Decoder(32)
    batch = collate([decode(key, sample) for key, sample in samples.items()])
    batch.seeds = sample_seeds(0, Position(0, 1), 0, len(samples))
    before = batch.crops.clone()
    next(with_references(iter([(Position(0, 1), batch)]), bank))
    for i, (key, seed) in enumerate(zip(batch.keys, batch.seeds.tolist())):
        expected = bank.other_crop(key, person[key], seed) or samples[key]["crop.png"]
        torch.testing.assert_close(batch.crops[i], chw(image_decode(expected)), atol=0, rtol=0)
        assert torch.equal(batch.crops[i], before[i]) == (person[key] == "person2")


@pytest.fixture(scope="module")
def held_out(files):
    """A prepared folder of 2 other identities (2 photos each), standing for data.val."""
    root = files[0]
    write_photo_folder(root / "val_photos", identities=2, per_identity=2)
    options = PrepareOptions(min_face=64, min_image_side=32, shard_size=2, identity_from_folder=True)
    prepare(root / "val_photos", root / "val_data", StandInAnalyzer(), options)
    return root / "val_data" / "train"


class FixedFace:
    """A stand-in analyser that finds one face with a fixed embedding in every image (or none)."""

    def __init__(self, embedding: np.ndarray | None):
        self.embedding = embedding

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        if self.embedding is None:
            return []
        return [DetectedFace(np.array([0, 0, 8, 8]), np.zeros((5, 2)), 0.9, np.zeros((448, 448, 3), np.uint8), self.embedding)]


def test_generated_images_are_seeded_and_scored_by_id_similarity(files, held_out):
    cfg = load(files, "generate")
    cfg.validate.steps, cfg.validate.identities, cfg.validate.images_per_identity = 2, 2, 1
    objective = build_objective(cfg).eval()
    reference = held_out_references(read_index(held_out), 5)
    assert sorted(r.identity for r in reference) == ["person0", "person1"]
    image = generate(objective, reference[0].crop, "a person", cfg.validate, 32, 24, seed=3)
    assert image.shape == (32, 24, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(generate(objective, reference[0].crop, "a person", cfg.validate, 32, 24, seed=3), image)
    assert not np.array_equal(generate(objective, reference[0].crop, "a person", cfg.validate, 32, 24, seed=4), image)
    # ID-Sim is the cosine of the generated face's embedding to the reference photo's
    embedding = np.random.default_rng(0).standard_normal(512).astype(np.float32)
    validator = GenerationValidator(read_index(held_out), cfg.validate, 32, FixedFace(embedding))
    assert len(validator.references) == 2
    for r in validator.references:
        r.embedding = embedding
    assert validator(objective) == {"val/id_sim": pytest.approx(1.0), "val/face_found": 1.0}
    validator.references[1].embedding = -embedding
    assert validator(objective) == {"val/id_sim": pytest.approx(0.0, abs=1e-6), "val/face_found": 1.0}  # (1 - 1) / 2
    validator.analyzer = FixedFace(None)
    scores = validator(objective)
    assert np.isnan(scores["val/id_sim"]) and scores["val/face_found"] == 0.0


def test_stage2_run_and_validate_command_log_generated_image_scores(files, held_out, capsys):
    from faceclip_core.train.__main__ import main

    clip = write_open_clip(files[0] / "open_clip_tiny.safetensors")
    validate = (f'identities = 2\nimages_per_identity = 1\nsteps = 2\nanalyzer = "tiny_training:StandInAnalyzer"\n'
                f'clip = "{clip}"\nclip_arch = "tiny-l"\n')
    unsafe = config_file(files, "unsafe", steps=2, extra="\n[validate]\n" + validate, data_keys=f'val = "{held_out}"\n')
    with pytest.raises(UsageError, match="would import that Python module.*allow_analyzer_import = true"):
        run_stage2(load_config(unsafe, Stage2Config))  # refused before anything trains
    assert not (files[0] / "unsafe").exists()
    validate += "allow_analyzer_import = true\n"
    path = config_file(files, "validated", steps=2, extra="\n[validate]\n" + validate, run="validate_every = 2\n",
                       data_keys=f'val = "{held_out}"\n')
    run_stage2(load_config(path, Stage2Config))
    out = files[0] / "validated"
    found, id_sim = logged(out, "val/face_found"), logged(out, "val/id_sim")
    assert len(found) == 1 and 0.0 <= found[0] <= 1.0
    assert len(id_sim) == 1 and (np.isnan(id_sim[0]) if found[0] == 0 else -1.0 <= id_sim[0] <= 1.0)
    clip_score = logged(out, "val/clip_score")
    assert len(clip_score) == 1 and 0.0 <= clip_score[0] <= 100.0
    assert len(logged(out, "loss")) == 2  # beside the losses
    # the subcommand scores the newest checkpoint (step 2): the same weights, so the same scores
    assert main(["validate", "--config", str(path)]) == 0
    assert capsys.readouterr().out.startswith("step 2, val/id_sim")
    assert logged(out, "val/face_found") == found * 2
    assert logged(out, "val/id_sim")[1] == pytest.approx(id_sim[0], nan_ok=True)
    assert logged(out, "val/clip_score")[1] == pytest.approx(clip_score[0])
    no_val = config_file(files, "no_val", steps=2)
    assert main(["validate", "--config", str(no_val)]) == 2
    assert "validate needs held-out identities: set data.val" in capsys.readouterr().err


def test_clip_score_reads_an_open_clip_checkpoint(tmp_path):
    """The text tower equals the FaceCLIP branch's CLIP text embedding for the same open_clip weights (no id token);
    the score is 100 * max(0, cos) of the image and text embeddings."""
    path = write_open_clip(tmp_path / "clip.safetensors")
    scorer = ClipScorer(path, "tiny-l")
    prompts = ["a photo of a person", "a red car"]
    branch = make_tiny_encoder(seed=3).face_clip_l
    ids = default_tokenizer()(prompts)
    expected = clip_text(branch, ids, torch.zeros_like(ids, dtype=torch.bool), torch.zeros(len(ids), branch.cfg.text.width))
    torch.testing.assert_close(scorer.text(ids), expected, atol=1e-6, rtol=0)
    images = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8) for i in range(2)]
    pixels = torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in images]).float() / 255.0
    cos = (scorer.image(clip_pixels(pixels, 28)) * expected).sum(-1)
    assert scorer(images, prompts) == pytest.approx((100 * cos.clamp(min=0)).tolist(), abs=1e-4)
    with pytest.raises(CheckpointError, match="Set validate.clip_arch"):
        ClipScorer(write_vision_tower(tmp_path / "image_only.safetensors", "tiny-l", 0), "tiny-l")


def test_fsdp_bf16_units_compute_in_bf16_with_fp32_master_weights(files, straight):
    """The CUDA setting (run.precision = "bf16" under FSDP) forced on for 2 CPU processes: the UNet's units gather
    and compute in bf16, the sharded master weights stay fp32, and training follows the fp32 run within bf16
    rounding (losses within 2%, weights within 1e-3 after 2 steps of lr 1e-4)."""
    path = config_file(files, "fsdp_bf16", 2, train="ema_decay = 0.5\n", run='parallel = "fsdp"\n')
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(REPO / "tests" / "support" / "fsdp_bf16_run.py"), str(path)], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"computed_in": ["torch.bfloat16"], "master_weights": ["torch.float32"]}
    out = files[0] / "fsdp_bf16"
    assert logged(out, "loss") == pytest.approx(logged(straight, "loss")[:2], rel=2e-2)
    weights, reference = sharded_weights(out / "checkpoints" / "step-0000002"), checkpoint(straight, 2)["weights"]
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float32}
    for key, value in reference.items():
        torch.testing.assert_close(weights[key], value, atol=1e-3, rtol=0, msg=key)
