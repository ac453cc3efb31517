"""The training loop both stages share: AdamW, warm-up schedule, DDP or FSDP, autocast, clipping, logging, checkpoints,
validation.

A stage provides an `Objective`: an nn.Module whose forward(batch) returns (loss, metrics), whose
trainable parameters are the ones with requires_grad, and which may update extra state after each step.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from . import parallel, training_state
from .config import OptimSection, RunSection
from .distributed import Dist, mean_over_processes
from .extras import require
from .parallel import Replicated
from .stream import Position

AUTOCAST = {"bf16": torch.bfloat16}


class Objective(nn.Module):
    """Base of the stage objectives: frozen submodules stay in eval mode (BatchNorm statistics, no dropout)."""

    def frozen_modules(self) -> list[nn.Module]:
        return []

    def train(self, mode: bool = True) -> "Objective":
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    def resume_keys(self) -> set[str]:
        """State-dict entries a checkpoint must hold: the trainable parameters (frozen ones come from the input files)."""
        return {name for name, p in self.named_parameters() if p.requires_grad}

    def shard_units(self) -> list[nn.Module]:
        """For run.parallel = "fsdp": the modules to shard, children before parents; each is gathered while its
        forward runs, so only modules called through forward belong here (the last may be the objective itself)."""
        return [self]

    def bf16_units(self) -> list[nn.Module]:
        """Shard units that may gather and compute in bf16 (with run.precision = "bf16" on CUDA)."""
        return []

    def after_step(self) -> None:
        """Called after each optimiser step (e.g. to update an EMA)."""


def build_optimizer(model: nn.Module, optim: OptimSection) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases, norms and scalars (logit scale and bias)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=tuple(optim.betas), eps=optim.eps)


def lr_factor(step: int, optim: OptimSection, total: int) -> float:
    if step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    if optim.schedule == "cosine":
        progress = (step - optim.warmup_steps) / max(1, total - optim.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return 1.0


class Logger:
    """Progress bar (loss, samples/s) and TensorBoard scalars, on the main process only."""

    def __init__(self, out: Path, start: int, total: int, enabled: bool):
        self.enabled = enabled
        if enabled:
            tqdm = require("tqdm", "The training progress bar").tqdm
            tensorboard = require("torch.utils.tensorboard", "TensorBoard logging")
            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)
            self.writer = tensorboard.SummaryWriter(str(out / "tensorboard"))

    def log(self, step: int, scalars: dict[str, float], advance: int) -> None:
        if not self.enabled:
            return
        self.bar.update(advance)
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in scalars.items() if k in ("loss", "samples/s")})
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.enabled:
            self.bar.close()
            self.writer.close()


def train(
    objective: Objective,
    batches: Callable[[Position], Iterator[tuple[Position, object]]],
    run: RunSection,
    optim: OptimSection,
    ctx: Dist,
    validate: Callable[[Objective], dict[str, float]] | None = None,
    engine: Replicated | None = None,
) -> Objective:
    """Train to run.steps, resuming from the newest checkpoint in run.out; returns the (unwrapped) objective.

    `validate` runs on the main process, or on every process when the engine needs it (only the main one logs)."""
    out = Path(run.out)
    engine = engine or parallel.engine(run.parallel, ctx, run.precision)
    objective.to(ctx.device)
    model = engine.wrap(objective)
    optimizer = build_optimizer(objective, optim)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, optim, run.steps))
    step, position = 0, Position()
    resume_from = training_state.latest(out / "checkpoints")
    if resume_from is not None:
        state = engine.load(resume_from, objective, optimizer)
        scheduler.load_state_dict(state["scheduler"])
        step, position = state["step"], Position(**state["position"])
        rng = training_state.load_rng(resume_from, ctx.rank)
        if rng is not None:
            training_state.set_rng_state(rng)
    autocast = (torch.autocast(ctx.device.type, dtype=AUTOCAST[run.precision])
                if ctx.device.type == "cuda" and run.precision in AUTOCAST else contextlib.nullcontext())
    trainable = [p for p in objective.parameters() if p.requires_grad]
    logger = Logger(out, step, run.steps, ctx.is_main)
    objective.train()
    source = batches(position)
    last_time, last_step, samples = time.perf_counter(), step, 0
    try:
        while step < run.steps:
            position, batch = next(source)
            with autocast:
                loss, metrics = model(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            engine.clip_grad_norm_(trainable, optim.grad_clip)
            optimizer.step()
            scheduler.step()
            objective.after_step()
            step += 1
            samples += run.batch_size
            if step % run.log_every == 0 or step == run.steps:
                now = time.perf_counter()
                scalars = {k: float(mean_over_processes(v)) for k, v in {"loss": loss.detach(), **metrics}.items()}
                scalars["samples/s"] = samples / (now - last_time)
                scalars["lr"] = scheduler.get_last_lr()[0]
                logger.log(step, scalars, step - last_step)
                last_time, last_step, samples = now, step, 0
            if step % run.save_every == 0 or step == run.steps:
                meta = {"step": step, "scheduler": scheduler.state_dict(), "position": asdict(position)}
                engine.save(out / "checkpoints", step, objective, optimizer, meta, run.keep_checkpoints)
            if (validate is not None and (ctx.is_main or engine.validate_everywhere)
                    and (step % run.validate_every == 0 or step == run.steps)):
                objective.eval()
                with engine.gathered(objective):
                    scores = validate(objective)
                logger.log(step, scores, 0)
                objective.train()
    finally:
        logger.close()
    return objective
