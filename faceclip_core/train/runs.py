"""One run per stage from its config: processes, data stream, model, training, export (main process)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from ..atomic import write_text
from . import distributed
from .config import Stage1Config, Stage2Config, to_dict
from .distributed import Dist
from .export import export_encoder
from .loop import Objective, train
from .shards import read_index
from .stage1 import Stage1Decoder, Stage1Objective, collate as collate_stage1, image_size
from .stage1 import build_objective as build_stage1
from .stage2 import Stage2Decoder, Stage2Objective, export_unet
from .stage2 import build_objective as build_stage2
from .stage2 import collate as collate_stage2
from .stream import BatchStream

Stage = Callable[[Dist], tuple[Objective, Callable, Callable, Callable | None]]


def _run(cfg: Stage1Config | Stage2Config, stage: Stage, export: Callable[[Objective, Path], object]) -> Objective:
    """`stage(ctx)` -> (objective, decode, collate, validator); trains to run.steps and exports on the main process."""
    ctx = distributed.setup()
    try:
        shards = read_index(cfg.data.train, cfg.data.allow_pipe)
        objective, decode, collate, validator = stage(ctx)
        stream = BatchStream(shards, cfg.data.streams, cfg.run.batch_size, ctx.rank, ctx.world, cfg.run.seed, decode, collate)
        out = Path(cfg.run.out)
        if ctx.is_main:
            write_text(out / "config.json", json.dumps(to_dict(cfg), indent=1))
        objective = train(objective, lambda start: stream(start, cfg.data.prefetch), cfg.run, cfg.optim, ctx, validator)
        if ctx.is_main:
            export(objective, out / "export")
        return objective
    finally:
        distributed.teardown()


def run_stage1(cfg: Stage1Config) -> Stage1Objective:
    """Train stage 1; the encoder (without the training heads) goes to run.out/export."""
    def stage(ctx: Dist):
        objective = build_stage1(cfg)
        validator = None
        if cfg.data.val and ctx.is_main:
            from .validation import RetrievalValidator  # reads the held-out set once, only when asked for

            validator = RetrievalValidator(read_index(cfg.data.val, cfg.data.allow_pipe), image_size(objective))
        return objective, Stage1Decoder(image_size(objective)), collate_stage1, validator

    return _run(cfg, stage, lambda objective, out: export_encoder(objective.encoder, out))


def run_stage2(cfg: Stage2Config) -> Stage2Objective:
    """Train stage 2; the UNet (the EMA if enabled) goes to run.out/export."""
    def stage(ctx: Dist):
        torch.manual_seed(cfg.run.seed + ctx.rank)  # noise, timesteps and dropout differ per process
        return build_stage2(cfg), Stage2Decoder(cfg.train.resolution), collate_stage2, None

    return _run(cfg, stage, lambda objective, out: export_unet(objective.trained_unet(), out))
