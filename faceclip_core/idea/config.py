"""ID-EA's architecture and training settings as data; the defaults are the paper's (see docs/id-ea.md)."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from ..architecture import check_divisible, from_untrusted
from ..errors import UsageError


@dataclass(frozen=True)
class IDEAConfig:
    """Widths of the ID-Enhancer and ID-Adapter. The text widths are SDXL's CLIP-L and CLIP-G."""

    num_tokens: int = 2
    face_dim: int = 512
    width_l: int = 768
    width_g: int = 1280
    inner_dim: int = 1024  # attention width inside both modules: 18.9 M parameters at SDXL's 2048 (paper: ~6 M at SD 2.1's 1024)
    heads: int = 8
    gate_scale: float = 0.4  # context' = context + gate_scale * tanh(gamma) * S

    @property
    def context_dim(self) -> int:
        return self.width_l + self.width_g

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "IDEAConfig":
        """The architecture a file states, checked (InvalidArchitecture naming the field) before any module is built."""
        config = from_untrusted(cls, json.loads(text), BOUNDS)
        check_divisible(config, [("inner_dim", "heads")])
        return config


# What an ID-EA file may state (field -> inclusive range): well above SDXL's sizes, far below a machine's memory.
BOUNDS = {"num_tokens": (1, 64), "face_dim": (1, 8192), "width_l": (1, 16384), "width_g": (1, 16384),
          "inner_dim": (1, 16384), "heads": (1, 256), "gate_scale": (0.0, 100.0)}


@dataclass(frozen=True)
class TrainConfig:
    """One training run. AdamW's learning rate is lr_per_sample * batch_size for every trained part."""

    steps: int = 320
    batch_size: int = 8
    micro_batch: int = 1  # samples per forward pass; the batch is accumulated from micro-batches to save memory
    # One rate for the tokens, the enhancer, the adapter and its gate gamma, as the authors' single optimiser
    # (1.5e-3 scaled by the batch: 1.2e-2 at batch 8). At a layer-sized rate (1e-4) gamma, which starts at 0,
    # ends a 320-step run near 0.05 and the adapter adds ~2% of its update: ID-EA becomes plain inversion.
    lr_per_sample: float = 1.5e-3
    weight_decay: float = 0.0  # no decay on the tokens: the anchor regulariser already keeps them in place
    regularizer_weight: float = 8e-4  # the authors' weight, on their Mahalanobis distance (not squared)
    resolution: int = 1024
    seed: int = 0
    save_every: int = 50  # steps between resumable training states

    def __post_init__(self) -> None:
        # steps and save_every are not checked here: the resumable state's identity is this config with both 0
        for key in ("batch_size", "micro_batch", "resolution"):
            if type(getattr(self, key)) is not int or getattr(self, key) < 1:
                raise UsageError(f"ID-EA training setting {key} must be a whole number of at least 1, got {getattr(self, key)!r}.")
        for key in ("lr_per_sample", "weight_decay", "regularizer_weight"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise UsageError(f"ID-EA training setting {key} must be a finite number >= 0, got {value!r}.")
        if self.resolution % 8:
            raise UsageError(f"ID-EA training resolution must be a multiple of 8 (the VAE's scale), got {self.resolution}.")
        if self.batch_size % self.micro_batch:
            raise UsageError(f"batch_size {self.batch_size} is not a multiple of micro_batch {self.micro_batch}")
