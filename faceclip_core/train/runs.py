"""One run per stage from its config: processes, data stream, model, training, export."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from . import distributed
from .config import Stage1Config, Stage2Config, to_dict
from .export import export_encoder
from .loop import train
from .shards import read_index
from .stage1 import Stage1Objective, Stage1Decoder, build_objective, collate, image_size
from .stage2 import Stage2Decoder, Stage2Objective, export_unet
from .stage2 import build_objective as build_stage2
from .stage2 import collate as collate_stage2
from .stream import BatchStream


def _write_config(cfg: object, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=1))


def run_stage1(cfg: Stage1Config) -> Stage1Objective:
    """Train stage 1 and export the encoder to run.out/export (main process)."""
    ctx = distributed.setup()
    try:
        shards = read_index(cfg.data.train)
        objective = build_objective(cfg)
        stream = BatchStream(shards, cfg.data.streams, cfg.run.batch_size, ctx.rank, ctx.world, cfg.run.seed,
                             Stage1Decoder(image_size(objective)), collate)
        validator = None
        if cfg.data.val:
            from .validation import RetrievalValidator  # reads the held-out set once, only when asked for
            validator = RetrievalValidator(read_index(cfg.data.val), image_size(objective)) if ctx.is_main else None
        out = Path(cfg.run.out)
        if ctx.is_main:
            _write_config(cfg, out)
        objective = train(objective, lambda start: stream(start, cfg.data.prefetch), cfg.run, cfg.optim, ctx, validator)
        if ctx.is_main:
            export_encoder(objective.encoder, out / "export")
        return objective
    finally:
        distributed.teardown()


def run_stage2(cfg: Stage2Config) -> Stage2Objective:
    """Train stage 2 and export the UNet to run.out/export (main process)."""
    ctx = distributed.setup()
    try:
        torch.manual_seed(cfg.run.seed + ctx.rank)  # noise, timesteps and dropout differ per process
        shards = read_index(cfg.data.train)
        objective = build_stage2(cfg)
        stream = BatchStream(shards, cfg.data.streams, cfg.run.batch_size, ctx.rank, ctx.world, cfg.run.seed,
                             Stage2Decoder(cfg.train.resolution), collate_stage2)
        out = Path(cfg.run.out)
        if ctx.is_main:
            _write_config(cfg, out)
        objective = train(objective, lambda start: stream(start, cfg.data.prefetch), cfg.run, cfg.optim, ctx)
        if ctx.is_main:
            export_unet(objective.trained_unet(), out / "export")
        return objective
    finally:
        distributed.teardown()
