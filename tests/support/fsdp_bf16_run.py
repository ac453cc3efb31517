"""Run under torchrun (CPU, gloo): stage 2 with FSDP's bf16 gathering forced on, as it runs on CUDA with
run.precision = "bf16" (on CPU the engine leaves it off). Rank 0 prints the dtype the UNet computed in."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from faceclip_core.train import distributed
from faceclip_core.train.config import Stage2Config, load_config
from faceclip_core.train.loop import train
from faceclip_core.train.parallel import Sharded
from faceclip_core.train.shards import read_index
from faceclip_core.train.stage2 import Stage2Decoder, build_objective, collate, with_sample_seeds
from faceclip_core.train.stream import BatchStream


def main(config: Path) -> None:
    cfg = load_config(config, Stage2Config)
    ctx = distributed.setup()
    try:
        engine = Sharded(ctx, "bf16")
        engine.bf16 = True
        objective = build_objective(cfg)
        seen = []
        objective.unet.conv_in.register_forward_pre_hook(lambda module, args: seen.append(str(module.weight.dtype)))
        stream = BatchStream(read_index(cfg.data.train), cfg.data.streams, cfg.run.batch_size, ctx.rank, ctx.world,
                             cfg.run.seed, Stage2Decoder(cfg.train.resolution), collate)
        first = ctx.rank * cfg.run.batch_size // ctx.world
        train(objective, lambda start: with_sample_seeds(stream(start, False), cfg.run.seed, first), cfg.run, cfg.optim,
              ctx, None, engine)
        master = sorted({str(p.dtype) for p in objective.unet.parameters()})
        if ctx.is_main:
            print(json.dumps({"computed_in": sorted(set(seen)), "master_weights": master}))
    finally:
        distributed.teardown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
