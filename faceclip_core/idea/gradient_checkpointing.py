"""Gradient checkpointing for a frozen model we do not own (the host's UNet), switched on only while training.

Training sends gradients through the whole SDXL UNet to the text context, so every layer's activations would be
kept for backward: several GB at 1024 px. Checkpointed layers keep only their inputs and recompute the rest
during backward (one more forward pass), which is what lets a step fit on a 12 GB GPU.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

import torch
from torch.utils.checkpoint import checkpoint


@contextmanager
def gradient_checkpointing(modules: Iterable[torch.nn.Module]) -> Iterator[int]:
    """Checkpoint each module's forward inside the block; yields how many were patched.

    The patch is an attribute on the instance (nn.Module.__call__ looks up self.forward), removed on exit, so the
    model is unchanged for everyone else who uses it afterwards, such as the sampler of the same graph.
    """
    patched = []
    try:
        for module in modules:
            if "forward" in vars(module):  # already patched, or someone else's patch: leave it be
                continue
            module.forward = _checkpointed(module.forward)
            patched.append(module)
        yield len(patched)
    finally:
        for module in patched:
            del module.forward


def _checkpointed(forward):
    def run(*args, **kwargs):
        if not torch.is_grad_enabled():  # sampling or evaluation: nothing to save memory on
            return forward(*args, **kwargs)
        # non-reentrant: accepts keyword arguments and inputs that do not require grad (the UNet's latents)
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return run
