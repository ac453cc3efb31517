"""Resumable training state: trainable weights, optimiser, scheduler, step, data position and every process's RNG.

Frozen weights are not saved: they are re-read from the run's input files, which the config names.
A checkpoint is a folder `out/checkpoints/step-0000100/`, written under a temporary name and renamed.
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist

from ..files.atomic import atomic_path
from ..errors import UsageError
from ..files.state import check_fields, read_training_state

STATE_FILE = "state.pt"
# what every state.pt holds; DDP's also holds the weights and the optimiser (FSDP's are in its shards)
STATE_FIELDS = {"step": int, "scheduler": dict, "position": dict}
DDP_FIELDS = {"weights": dict, "optimizer": dict}
RNG_FIELDS = {"python": tuple, "numpy": list, "torch": torch.Tensor}


def rng_state() -> dict[str, Any]:
    # numpy's key array as a tensor, so the file loads with weights_only=True (no pickled numpy objects)
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def latest(folder: Path) -> Path | None:
    steps = sorted(folder.glob("step-*[0-9]")) if folder.is_dir() else []
    return steps[-1] if steps else None


def save(folder: Path, step: int, state: dict[str, Any], rank: int, keep: int,
         write_shards: Callable[[Path], None] | None = None) -> None:
    """Every process writes its RNG (and its shards, through `write_shards(folder)`, a collective); process 0
    writes `state` and renames the folder when all are done."""
    final = folder / f"step-{step:07d}"
    tmp = folder / f"step-{step:07d}.partial"
    if rank == 0:
        tmp.mkdir(parents=True, exist_ok=True)
    if dist.is_initialized():
        dist.barrier()
    with atomic_path(tmp / f"rng-{rank}.pt") as partial:  # a failed write is named, with its cause
        torch.save(rng_state(), partial)
    if write_shards is not None:
        write_shards(tmp)
    if rank == 0:
        with atomic_path(tmp / STATE_FILE) as partial:
            torch.save(state, partial)
    if dist.is_initialized():
        dist.barrier()
    if rank == 0:
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in sorted(folder.glob("step-*[0-9]"))[:-keep] if keep > 0 else []:
            shutil.rmtree(old)
    if dist.is_initialized():
        dist.barrier()


def load_state(path: Path, parallel: str) -> dict[str, Any]:
    """The checkpoint's state.pt, checked to come from the same engine (run.parallel)."""
    state_file = path / STATE_FILE
    if not state_file.is_file():
        raise UsageError(f"{path} is not a training checkpoint ({STATE_FILE} missing); delete it or point to another.")
    state = read_training_state(state_file, STATE_FIELDS, _fix(path))
    written = state.get("parallel", "ddp")
    if written != parallel:
        raise UsageError(f"{path} was written with run.parallel = {written!r}, this run has {parallel!r}: resume with "
                         "the same setting, or start a new run.out.")
    return check_fields(state_file, state, DDP_FIELDS, _fix(path)) if parallel == "ddp" else state


def load_rng(path: Path, rank: int) -> dict[str, Any] | None:
    """This process's RNG state, or None when the run that wrote `path` had fewer processes."""
    rng_file = path / f"rng-{rank}.pt"
    return read_training_state(rng_file, RNG_FIELDS, _fix(path)) if rng_file.is_file() else None


def _fix(path: Path) -> str:
    return f"delete {path} to resume from the checkpoint before it"
