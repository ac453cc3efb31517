"""Process-group set-up from torchrun's environment, and the gather that makes a contrastive batch global.

One process: `python -m faceclip_core.train ...`. Several GPUs or machines: the same command under
`torchrun` (e.g. `torchrun --nproc_per_node 8 -m faceclip_core.train stage1 --config run.toml`), which
sets RANK/WORLD_SIZE/LOCAL_RANK; the model is wrapped in DistributedDataParallel.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn


@dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup() -> Dist:
    """Join the process group torchrun describes (nccl on CUDA, gloo on CPU), or run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(int(os.environ.get("RANK", "0")), world, local_rank, device)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate x over processes in rank order, keeping the gradient path to every process's rows.

    Each process then computes the same global loss; DDP's gradient mean cancels the world-size factor
    that the backward of all_gather (a sum over processes) introduces.
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    if x.requires_grad:
        return torch.cat(dist_fn.all_gather(x), dim=0)
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def mean_over_processes(value: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        value = value.detach().clone()
        dist.all_reduce(value)
        value /= dist.get_world_size()
    return value
