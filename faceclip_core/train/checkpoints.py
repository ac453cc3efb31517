"""Resumable training state: trainable weights, optimiser, scheduler, step, data position and every process's RNG.

Frozen weights are not saved: they are re-read from the run's input files, which the config names.
A checkpoint is a folder `out/checkpoints/step-0000100/`, written under a temporary name and renamed.
"""
from __future__ import annotations

import random
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from ..atomic import atomic_path
from ..errors import UsageError
from ..state_files import read_training_state
from .stream import Position

STATE_FILE = "state.pt"
STATE_FIELDS = {"step": int, "weights": dict, "optimizer": dict, "scheduler": dict, "position": dict}


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


def save(folder: Path, step: int, weights: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
         scheduler: Any, position: Position, rank: int, keep: int) -> None:
    """Every process writes its RNG; process 0 writes the rest and renames the folder when all are done."""
    final = folder / f"step-{step:07d}"
    tmp = folder / f"step-{step:07d}.partial"
    if rank == 0:
        tmp.mkdir(parents=True, exist_ok=True)
    if dist.is_initialized():
        dist.barrier()
    with atomic_path(tmp / f"rng-{rank}.pt") as partial:  # a failed write is named, with its cause
        torch.save(rng_state(), partial)
    if rank == 0:
        with atomic_path(tmp / STATE_FILE) as partial:
            torch.save({"step": step, "weights": weights, "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "position": asdict(position)}, partial)
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


def load(path: Path, rank: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(state, this process's RNG or None when the run had fewer processes)."""
    state_file = path / STATE_FILE
    if not state_file.is_file():
        raise UsageError(f"{path} is not a training checkpoint ({STATE_FILE} missing); delete it or point to another.")
    fix = f"delete {path} to resume from the checkpoint before it"
    state = read_training_state(state_file, STATE_FIELDS, fix)
    rng_file = path / f"rng-{rank}.pt"
    rng = read_training_state(rng_file, {"python": tuple, "numpy": list, "torch": torch.Tensor}, fix) if rng_file.is_file() else None
    return state, rng
