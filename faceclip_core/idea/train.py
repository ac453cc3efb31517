"""The ID-EA training loop: new tokens + ID-Enhancer + ID-Adapter against a frozen SDXL, seeded and resumable.

All randomness (photos, prompts, timesteps, noise) comes from one CPU generator whose state is saved with the
weights and the optimiser, so a resumed run takes exactly the steps an uninterrupted one would have taken.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..files.atomic import atomic_path
from ..errors import CheckpointError, UsageError
from ..files.state import read_training_state
from .adapter import IDAdapter
from .anchor import AnchorBank
from .config import IDEAConfig, TrainConfig
from .dataset import TrainingSet
from .enhancer import IDEnhancer
from .errors import BaseModelMismatch, TrainingCancelled
from .interfaces import Denoiser, PromptEncoder
from .schedule import NUM_TIMESTEPS, add_noise
from .templates import TEMPLATES

ProgressCallback = Callable[[int, int, float], None]  # (steps done, total steps, loss of the last step)
StopCallback = Callable[[], bool]  # True when the user asked to stop


@dataclass(frozen=True)
class Batch:
    """What one step trains on: indices into the training set, timesteps, noise and prompt template ids."""

    indices: torch.Tensor
    timesteps: torch.Tensor
    noise: torch.Tensor
    templates: torch.Tensor


@dataclass
class TrainResult:
    tokens_l: torch.Tensor
    tokens_g: torch.Tensor
    enhancer: IDEnhancer
    adapter: IDAdapter
    anchor: AnchorBank
    face: torch.Tensor
    steps: int
    losses: list[float] = field(default_factory=list)


class IDEATrainer:
    """Trains the n new tokens (CLIP-L and CLIP-G parts), the enhancer and the adapter; nothing else changes."""

    def __init__(
        self,
        encoder: PromptEncoder,
        denoiser: Denoiser,
        anchor: AnchorBank,
        data: TrainingSet,
        config: IDEAConfig = IDEAConfig(),
        train: TrainConfig = TrainConfig(),
        device: torch.device | str = "cpu",
        base_fingerprint: str = "",
    ):
        table_l, table_g = encoder.embedding_tables()
        if (table_l.shape[1], table_g.shape[1]) != (config.width_l, config.width_g):
            raise BaseModelMismatch(
                f"The CLIP given has token widths {table_l.shape[1]} and {table_g.shape[1]}; ID-EA trains on SDXL "
                f"({config.width_l} CLIP-L + {config.width_g} CLIP-G). Load an SDXL checkpoint's CLIP (not SD1.5/SD2/Flux).")
        self.encoder, self.denoiser, self.anchor, self.data = encoder, denoiser, anchor, data
        self.config, self.train_config, self.device = config, train, torch.device(device)
        self.base_fingerprint = base_fingerprint
        tokens_l, tokens_g = anchor.initial_tokens(config.num_tokens)
        self.tokens_l = tokens_l.to(self.device).requires_grad_()
        self.tokens_g = tokens_g.to(self.device).requires_grad_()
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, without touching the caller's RNG
            torch.manual_seed(train.seed)
            self.enhancer = IDEnhancer(config).to(self.device)
            self.adapter = IDAdapter(config).to(self.device)
        self.anchors = anchor.embeddings.to(self.device)
        self.optimizer = torch.optim.AdamW(
            [self.tokens_l, self.tokens_g, *self.enhancer.parameters(), *self.adapter.parameters()],
            lr=train.lr_per_sample * train.batch_size, weight_decay=train.weight_decay,
        )
        self.generator = torch.Generator().manual_seed(train.seed)
        self.step_count = 0
        self.losses: list[float] = []

    # --- one step -------------------------------------------------------------------------------------
    def sample_batch(self) -> Batch:
        n, g = self.train_config.batch_size, self.generator
        indices = torch.randint(len(self.data.latents), (n,), generator=g)
        timesteps = torch.randint(NUM_TIMESTEPS, (n,), generator=g)
        noise = torch.randn((n, *self.data.latents.shape[1:]), generator=g)
        templates = torch.randint(len(TEMPLATES), (n,), generator=g)
        return Batch(indices, timesteps, noise, templates)

    def loss(self, batch: Batch) -> torch.Tensor:
        """Noise-prediction MSE of the batch plus the anchor regulariser on the new tokens."""
        to = lambda x: x.to(self.device)  # noqa: E731
        latents, noise, t = to(self.data.latents[batch.indices]), to(batch.noise), to(batch.timesteps)
        context, pooled = self.encoder.encode([TEMPLATES[i] for i in batch.templates.tolist()], self.tokens_l, self.tokens_g)
        identity = self.enhancer(to(self.data.faces[batch.indices]), self.anchors)
        context = self.adapter(context.to(self.device), identity)
        predicted = self.denoiser(add_noise(latents, noise, t), t, context, pooled.to(self.device))
        regularizer = self.anchor.distance(torch.cat([self.tokens_l, self.tokens_g], dim=1))
        return F.mse_loss(predicted.float(), noise) + self.train_config.regularizer_weight * regularizer

    def step(self, batch: Batch) -> float:
        """One optimiser step over the batch, accumulated over micro-batches; returns the batch's loss."""
        self.optimizer.zero_grad(set_to_none=True)
        size, micro = len(batch.indices), self.train_config.micro_batch
        total = 0.0
        for start in range(0, size, micro):
            part = Batch(*(x[start : start + micro] for x in (batch.indices, batch.timesteps, batch.noise, batch.templates)))
            loss = self.loss(part) * (len(part.indices) / size)
            loss.backward()
            total += loss.item()
        self.optimizer.step()
        self.step_count += 1
        self.losses.append(total)
        return total

    # --- the run --------------------------------------------------------------------------------------
    def run(self, state_path: str | os.PathLike | None = None, progress: ProgressCallback | None = None,
            should_stop: StopCallback | None = None, stop_types: tuple[type[BaseException], ...] = ()) -> TrainResult:
        """Trains up to train.steps, resuming from state_path when it exists and saving it every save_every steps.

        When should_stop() turns true the state is saved (if state_path is given) and TrainingCancelled is raised.
        An exception of `stop_types` raised inside a step (a host's Cancel, which newer ComfyUI raises from any of
        its layers and derives from BaseException) ends the same way, raised from it: the half-done step is dropped
        and its random draws rewound, so a resumed run still takes exactly the uninterrupted run's steps.
        """
        if state_path is not None and Path(state_path).is_file():
            self.load_state(state_path)
        total = self.train_config.steps
        while self.step_count < total:
            if should_stop is not None and should_stop():
                raise self._stopped(state_path)
            draws = self.generator.get_state()
            try:
                loss = self.step(self.sample_batch())
            except stop_types as interrupt:  # the optimiser has not stepped: only the draws moved on
                self.generator.set_state(draws)
                raise self._stopped(state_path) from interrupt
            done = self.step_count
            if state_path is not None and (done % self.train_config.save_every == 0 or done == total):
                self.save_state(state_path)
            if progress is not None:
                progress(done, total, loss)
        return self.result()

    def _stopped(self, state_path: str | os.PathLike | None) -> TrainingCancelled:
        """Saves the state (if state_path is given); the TrainingCancelled that says how to resume."""
        if state_path is not None:
            self.save_state(state_path)
        return TrainingCancelled(f"Training stopped at step {self.step_count} of {self.train_config.steps}. "
                                 + (f"Run it again with the same settings to resume from {state_path}." if state_path else ""))

    def result(self) -> TrainResult:
        return TrainResult(self.tokens_l.detach().cpu(), self.tokens_g.detach().cpu(), self.enhancer, self.adapter,
                           self.anchor, self.data.mean_face, self.step_count, list(self.losses))

    # --- resumable state ------------------------------------------------------------------------------
    def _identity(self) -> dict[str, str]:
        """What a saved state must match to be resumed by this trainer."""
        # steps and save_every may change between runs: a finished run can be trained further
        train = replace(self.train_config, steps=0, save_every=0)
        return {"config": self.config.to_json(), "train": repr(train), "base": self.base_fingerprint}

    # what load_state needs of a saved state, and its types (a damaged file fails here, naming the field)
    STATE_FIELDS = {"identity": dict, "step": int, "losses": list, "tokens_l": torch.Tensor, "tokens_g": torch.Tensor,
                    "enhancer": dict, "adapter": dict, "optimizer": dict, "generator": torch.Tensor}

    def save_state(self, path: str | os.PathLike) -> None:
        state = {
            "identity": self._identity(),
            "step": self.step_count,
            "losses": self.losses,
            "tokens_l": self.tokens_l.detach().cpu(),
            "tokens_g": self.tokens_g.detach().cpu(),
            "enhancer": self.enhancer.state_dict(),
            "adapter": self.adapter.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }
        with atomic_path(path) as partial:  # a crash mid-write leaves the previous state intact
            torch.save(state, partial)

    def load_state(self, path: str | os.PathLike) -> None:
        state = read_training_state(path, self.STATE_FIELDS, f"delete {path} to start the training over")
        saved, ours = state["identity"], self._identity()
        if set(saved) != set(ours):
            raise CheckpointError(f"{path}: its 'identity' field is not the one this trainer writes. "
                                  f"Delete {path} to start the training over.")
        if saved["base"] != ours["base"]:
            raise BaseModelMismatch(f"{path} was trained on another base model (fingerprint {saved['base']}, this one "
                                    f"{ours['base']}). Load the same SDXL checkpoint as before, or delete {path} to start over.")
        if saved != ours:
            raise UsageError(f"{path} was saved with other settings ({saved['train']}; now {ours['train']}). "
                             f"Use the same settings to resume, or delete {path} to start over.")
        try:
            with torch.no_grad():
                self.tokens_l.copy_(state["tokens_l"])
                self.tokens_g.copy_(state["tokens_g"])
            self.enhancer.load_state_dict(state["enhancer"])
            self.adapter.load_state_dict(state["adapter"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.generator.set_state(state["generator"])
            self.step_count, self.losses = int(state["step"]), [float(x) for x in state["losses"]]
        except (RuntimeError, ValueError, TypeError, KeyError) as exc:
            raise CheckpointError(f"{path}: the saved training state does not fit this run ({str(exc).splitlines()[0]}). "
                                  f"Delete {path} to start the training over.") from exc
