"""One run per stage from its config: processes, data stream, model, training, export (main process)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import torch

from ..files.atomic import write_text
from . import distributed, parallel, training_state
from .config import Stage1Config, Stage2Config, to_dict
from .distributed import Dist
from ..errors import UsageError
from .export import export_encoder
from .extras import require
from .face_analysis import build_analyzer
from .loop import Objective, train
from .parallel import Replicated
from .references import ReferenceBank, with_references
from .shards import read_index
from .stage1 import Stage1Decoder, Stage1Objective, collate as collate_stage1, image_size
from .stage1 import build_objective as build_stage1
from .stage2 import Stage2Decoder, Stage2Objective, export_unet, with_sample_seeds
from .stage2 import build_objective as build_stage2
from .stage2 import collate as collate_stage2
from .stream import BatchStream

Stage = Callable[[Dist, Replicated], tuple[Objective, Callable, Callable, Callable | None]]
Stamp = Callable[[Iterator, Dist], Iterator]
Export = Callable[[Objective, dict[str, torch.Tensor], Path], object]


def _run(cfg: Stage1Config | Stage2Config, stage: Stage, export: Export,
         stamp: Stamp = lambda batches, ctx: batches) -> Objective:
    """`stage(ctx, engine)` -> (objective, decode, collate, validator); trains to run.steps, then the main process
    exports from the whole state dict (gathered from every process under FSDP).
    `stamp` may add to each of this process's batches what only the run knows (its place in the global batch)."""
    ctx = distributed.setup()
    try:
        shards = read_index(cfg.data.train, cfg.data.allow_pipe)
        engine = parallel.engine(cfg.run.parallel, ctx, cfg.run.precision)
        objective, decode, collate, validator = stage(ctx, engine)
        stream = BatchStream(shards, cfg.data.streams, cfg.run.batch_size, ctx.rank, ctx.world, cfg.run.seed, decode, collate)
        out = Path(cfg.run.out)
        if ctx.is_main:
            write_text(out / "config.json", json.dumps(to_dict(cfg), indent=1))
        objective = train(objective, lambda start: stamp(stream(start, cfg.data.prefetch), ctx), cfg.run, cfg.optim, ctx,
                          validator, engine)
        state = engine.full_state(objective)
        if ctx.is_main:
            export(objective, state, out / "export")
        return objective
    finally:
        distributed.teardown()


def run_stage1(cfg: Stage1Config) -> Stage1Objective:
    """Train stage 1; the encoder (without the training heads) goes to run.out/export."""
    def stage(ctx: Dist, engine: Replicated):
        objective = build_stage1(cfg)
        validator = None
        if cfg.data.val and (ctx.is_main or engine.validate_everywhere):
            from .validation import RetrievalValidator  # reads the held-out set once, only when asked for

            validator = RetrievalValidator(read_index(cfg.data.val, cfg.data.allow_pipe), image_size(objective))
        return objective, Stage1Decoder(image_size(objective)), collate_stage1, validator

    def export(objective: Stage1Objective, state: dict[str, torch.Tensor], out: Path) -> None:
        export_encoder(substate(state, "encoder."), objective.encoder.config, out)

    return _run(cfg, stage, export)


def run_stage2(cfg: Stage2Config) -> Stage2Objective:
    """Train stage 2; the UNet (the EMA if enabled) goes to run.out/export."""
    def stage(ctx: Dist, engine: Replicated):
        validator = generation_validator(cfg) if cfg.data.val and (ctx.is_main or engine.validate_everywhere) else None
        return build_stage2(cfg), Stage2Decoder(cfg.train.resolution, cfg.train.buckets), collate_stage2, validator

    bank = ReferenceBank(read_index(cfg.data.train, cfg.data.allow_pipe)) if cfg.train.reference == "other" else None

    def stamp(batches: Iterator, ctx: Dist) -> Iterator:  # the samples' own seeds: equal draws for any process count
        seeded = with_sample_seeds(batches, cfg.run.seed, ctx.rank * cfg.run.batch_size // ctx.world)
        return seeded if bank is None else with_references(seeded, bank)

    def export(objective: Stage2Objective, state: dict[str, torch.Tensor], out: Path) -> None:
        export_unet(substate(state, objective.trained_unet_prefix()), objective.unet.config, out)

    return _run(cfg, stage, export, stamp)


def generation_validator(cfg: Stage2Config) -> Callable[[Objective], dict[str, float]]:
    """Stage 2's validation on generated images of data.val's identities (reads the held-out set once)."""
    from .clip_score import ClipScorer
    from .generation import GenerationValidator

    if cfg.validate.analyzer and not cfg.validate.allow_analyzer_import:
        raise UsageError(f"validate.analyzer = {cfg.validate.analyzer!r} would import that Python module: a config never "
                         "runs code unless it opts in. Set validate.allow_analyzer_import = true if you trust it, or use "
                         "validate.models_dir with an insightface pack.")
    analyzer = build_analyzer(cfg.validate.analyzer, cfg.validate.models_dir, cfg.validate.pack)
    clip = ClipScorer(cfg.validate.clip, cfg.validate.clip_arch) if cfg.validate.clip else None
    return GenerationValidator(read_index(cfg.data.val, cfg.data.allow_pipe), cfg.validate, cfg.train.resolution, analyzer, clip)


def validate_stage2(cfg: Stage2Config) -> dict[str, float]:
    """`validate`: score the newest checkpoint in run.out (the starting UNet if there is none) on generated images,
    in this one process; the scores go to run.out's TensorBoard log at the checkpoint's step, and are returned."""
    if not cfg.data.val:
        raise UsageError("validate needs held-out identities: set data.val to a prepared folder (prepare --val-identities K "
                         "writes DATA/val).")
    ctx = distributed.setup()
    try:
        engine = parallel.engine(cfg.run.parallel, ctx, cfg.run.precision)
        validator = generation_validator(cfg)
        objective = build_stage2(cfg).to(ctx.device).eval()
        latest, step = training_state.latest(Path(cfg.run.out) / "checkpoints"), 0
        if latest is not None:
            step = engine.load(latest, objective, None)["step"]
        scores = validator(objective)
        writer = require("torch.utils.tensorboard", "TensorBoard logging").SummaryWriter(str(Path(cfg.run.out) / "tensorboard"))
        for key, value in scores.items():
            writer.add_scalar(key, value, step)
        writer.close()
        return {"step": step, **scores}
    finally:
        distributed.teardown()


def substate(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of a submodule (`prefix`, e.g. "encoder.") of a state dict, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
