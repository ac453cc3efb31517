"""The host's MODEL and CLIP as ID-EA Train backpropagates through them: clones whose weights stay put.

Newer ComfyUI (0.38.x) manages core models with dynamic VRAM: weights are streamed to the GPU into shared buffers
that the next layer reuses, so activations saved for backward could reference overwritten weights. Their
`clone(disable_dynamic=True)` gives a plain ModelPatcher of a model the loader builds again; built here, outside
inference mode, its weights are normal tensors that autograd can save as they are (a frozen view: nothing is
copied). 0.3.64 has no such parameter and no dynamic VRAM: a plain clone shares the model, whose inference-mode
weights frozen_for_autograd then has to copy.
"""
from __future__ import annotations

import inspect
from typing import Any

from faceclip_core.errors import UsageError


def _takes_disable_dynamic(clone: Any) -> bool:
    return "disable_dynamic" in inspect.signature(clone).parameters


def _static_clone(owner: Any, what: str) -> Any:
    if not _takes_disable_dynamic(owner.clone):
        return owner.clone()
    try:
        return owner.clone(disable_dynamic=True)
    except RuntimeError as exc:  # "Cannot create non-dynamic delegate": a loader that cannot build it again
        raise UsageError(
            f"ID-EA Train needs the {what} without dynamic VRAM, and this ComfyUI cannot make such a copy of it "
            f"({exc}). Load the SDXL checkpoint with the core Load Checkpoint node, or start ComfyUI with "
            "--disable-dynamic-vram.") from exc


def training_model(model: Any) -> Any:
    """A clone of MODEL (a ModelPatcher) that is never streamed: dynamic VRAM off where the host has it."""
    return _static_clone(model, "MODEL")


def training_clip(clip: Any) -> Any:
    """A clone of CLIP whose text encoders are never streamed. The host's CLIP.clone keeps the old container
    (cond_stage_model) beside the new patcher; training must run the model that this patcher loads."""
    clone = _static_clone(clip, "CLIP")
    clone.cond_stage_model = clone.patcher.model
    return clone
