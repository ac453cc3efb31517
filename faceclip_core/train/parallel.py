"""How the processes share the model (`run.parallel`): DDP replicas, or FSDP2 shards; and their checkpoints.

- "ddp": every process holds the whole objective; DistributedDataParallel averages the gradients. A
  checkpoint is one `state.pt` written by process 0 (trainable weights, optimiser, ...).
- "fsdp": PyTorch's own FSDP2 (`torch.distributed.fsdp.fully_shard`): parameters, gradients and optimiser
  state are split over the processes, each unit (a transformer block, a UNet resnet or attention) gathered
  only while it runs. Chosen over DeepSpeed or FSDP1 because it ships with torch (no extra package, the
  gloo backend runs it on CPU for the tests), keeps parameters as DTensors that plain AdamW, gradient
  clipping and the EMA update work on unchanged, composes with torch.utils.checkpoint, and saves with
  torch.distributed.checkpoint (DCP), whose files load on any number of processes. A checkpoint is a DCP
  folder `sharded/` (trainable weights and optimiser state, one file per process) beside `state.pt`
  (step, scheduler, data position). On CUDA with run.precision = "bf16", the units a stage marks
  (`Objective.bf16_units`) gather and compute in bf16 and reduce gradients in fp32; master weights
  stay fp32. The processes must share the checkpoint folder (one machine, or a shared file system).

With one process "fsdp" shards nothing but still writes DCP checkpoints, so a run can move between 1 and N
processes either way.
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import training_state
from .distributed import Dist

SHARDED_DIR = "sharded"


class Replicated:
    """run.parallel = "ddp"."""

    name = "ddp"

    def __init__(self, ctx: Dist, precision: str):
        self.ctx = ctx

    def wrap(self, objective: nn.Module) -> nn.Module:
        """The module to call for a training step (before the optimiser is built)."""
        if self.ctx.world == 1:
            return objective
        return DistributedDataParallel(objective, device_ids=[self.ctx.device] if self.ctx.device.type == "cuda" else None,
                                       broadcast_buffers=False)

    def save(self, folder: Path, step: int, objective: nn.Module, optimizer: torch.optim.Optimizer, meta: dict[str, Any],
             keep: int) -> None:
        keys = objective.resume_keys()
        weights = {k: v.detach().cpu() for k, v in objective.state_dict().items() if k in keys}
        training_state.save(folder, step, {**meta, "weights": weights, "optimizer": optimizer.state_dict()}, self.ctx.rank, keep)

    def load(self, path: Path, objective: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
        """Restore the trained weights (and the optimiser, unless None); returns state.pt (step, scheduler, position)."""
        state = training_state.load_state(path, self.name)
        missing = objective.resume_keys() - set(state["weights"])
        if missing:
            raise_other_config(path, missing)
        objective.load_state_dict(state["weights"], strict=False)
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
        return state

    def full_state(self, objective: nn.Module) -> dict[str, torch.Tensor]:
        """The whole objective's state dict on the main process (export); called by every process."""
        return objective.state_dict() if self.ctx.is_main else {}

    def clip_grad_norm_(self, params: list[torch.Tensor], max_norm: float) -> None:
        """Finish the gradients (DDP has already averaged them) and clip them to `max_norm` (0 = no clipping)."""
        if max_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, max_norm)

    @contextlib.contextmanager
    def gathered(self, objective: nn.Module) -> Iterator[None]:
        """Whole parameters for code outside the training forward (validation): nothing to do for replicas."""
        yield

    validate_everywhere = False  # validation runs on the main process alone


class Sharded(Replicated):
    """run.parallel = "fsdp"."""

    name = "fsdp"
    validate_everywhere = True  # gathering a unit is collective: every process runs validation's forwards

    def __init__(self, ctx: Dist, precision: str):
        super().__init__(ctx, precision)
        self.bf16 = precision == "bf16" and ctx.device.type == "cuda"
        self.replicated: list[nn.Parameter] = []

    def wrap(self, objective: nn.Module) -> nn.Module:
        if self.ctx.world == 1:
            return objective
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mesh = init_device_mesh(self.ctx.device.type, (self.ctx.world,))
        half = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        bf16_units = {id(m) for m in objective.bf16_units()} if self.bf16 else set()
        # FSDP2 cannot shard 0-d tensors (a branch's logit scale and bias): they stay replicated, their
        # gradients averaged by hand (sync_replicated_grads)
        scalars = {p for p in objective.parameters() if p.ndim == 0}
        self.replicated = [p for p in objective.parameters() if p.ndim == 0 and p.requires_grad]  # same order everywhere
        for unit in objective.shard_units():  # children before parents: a unit's own group is what its children leave
            policy = half if id(unit) in bf16_units else MixedPrecisionPolicy()
            fully_shard(unit, mesh=mesh, mp_policy=policy, ignored_params=scalars & set(unit.parameters()))
        return objective

    def clip_grad_norm_(self, params: list[torch.Tensor], max_norm: float) -> None:
        """Average the replicated parameters' gradients, then clip all by the global norm (shards and replicas)."""
        import torch.distributed as dist
        from torch.distributed.tensor import DTensor

        grads = [p.grad for p in params if p.grad is not None]
        for grad in (p.grad for p in self.replicated if p.grad is not None):
            dist.all_reduce(grad)
            grad /= self.ctx.world
        if max_norm <= 0:
            return
        norms = []
        for part in ([g for g in grads if isinstance(g, DTensor)], [g for g in grads if not isinstance(g, DTensor)]):
            if part:
                norm = torch.nn.utils.get_total_norm(part)
                norms.append(norm.full_tensor() if isinstance(norm, DTensor) else norm)
        coef = min(1.0, max_norm / (torch.linalg.vector_norm(torch.stack(norms)).item() + 1e-6))
        if coef < 1.0:
            torch._foreach_mul_(grads, coef)

    def _states(self, objective: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_state_dict

        if optimizer is None:
            weights, optim = get_model_state_dict(objective), None
        else:
            weights, optim = get_state_dict(objective, optimizer)
        keys = objective.resume_keys()
        states = {"weights": {k: v for k, v in weights.items() if k in keys}}
        return states if optim is None else {**states, "optimizer": optim}

    def save(self, folder: Path, step: int, objective: nn.Module, optimizer: torch.optim.Optimizer, meta: dict[str, Any],
             keep: int) -> None:
        import torch.distributed.checkpoint as dcp

        states = self._states(objective, optimizer)
        def write(tmp: Path) -> None:
            with one_process_is_meant():
                dcp.save(states, checkpoint_id=tmp / SHARDED_DIR, no_dist=self.ctx.world == 1)

        training_state.save(folder, step, {**meta, "parallel": self.name}, self.ctx.rank, keep, write_shards=write)

    def load(self, path: Path, objective: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_state_dict

        state = training_state.load_state(path, self.name)
        states = self._states(objective, optimizer)  # the layout to fill: this run's own sharding
        stored = set(dcp.FileSystemReader(path / SHARDED_DIR).read_metadata().state_dict_metadata)
        missing = {k for k in objective.resume_keys() if f"weights.{k}" not in stored}
        if missing:
            raise_other_config(path, missing)
        with one_process_is_meant():
            dcp.load(states, checkpoint_id=path / SHARDED_DIR, no_dist=self.ctx.world == 1)
        options = StateDictOptions(strict=False)
        if optimizer is None:
            set_model_state_dict(objective, states["weights"], options=options)
        else:
            set_state_dict(objective, optimizer, model_state_dict=states["weights"], optim_state_dict=states["optimizer"],
                           options=options)
        return state

    def full_state(self, objective: nn.Module) -> dict[str, torch.Tensor]:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        if self.ctx.world == 1:
            return objective.state_dict()
        return get_model_state_dict(objective, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    @contextlib.contextmanager
    def gathered(self, objective: nn.Module) -> Iterator[None]:
        from torch.distributed.fsdp import FSDPModule

        units = [m for m in objective.modules() if isinstance(m, FSDPModule)]
        for unit in units:
            unit.unshard()
        try:
            yield
        finally:
            for unit in units:
                unit.reshard()


@contextlib.contextmanager
def one_process_is_meant() -> Iterator[None]:
    """Silence DCP's warning that it assumes a single process: with one process that is what a run asks for."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled, unavailable or uninitialized")
        yield


def raise_other_config(path: Path, missing: set[str]) -> None:
    raise RuntimeError(f"{path} lacks {len(missing)} trainable tensors (e.g. {sorted(missing)[0]}): "
                       "it was written by another config. Use another run.out or delete the checkpoints.")


ENGINES = {"ddp": Replicated, "fsdp": Sharded}


def engine(parallel: str, ctx: Dist, precision: str) -> Replicated:
    return ENGINES[parallel](ctx, precision)

