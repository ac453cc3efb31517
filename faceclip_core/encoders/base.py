"""What both encoders share around their modules: where encode() computes, and the no-face output cached there."""
from __future__ import annotations

from typing import Any, Callable, TypeVar

import torch
from torch import nn

T = TypeVar("T")


class PlacedEncoder(nn.Module):
    """An encoder whose host may compute it elsewhere than its weights sit (ComfyUI's low-VRAM mode streams
    weights to the GPU layer by layer and sets execution_device/dtype), with the official negative's black-face
    output cached per (device, dtype). Subclasses define compute_device and compute_dtype."""

    def __init__(self) -> None:
        super().__init__()
        # None = where the weights are. Not named device/dtype: hosts set those on the models they manage.
        self.execution_device: torch.device | None = None
        self.execution_dtype: torch.dtype | None = None
        self._no_face: dict[tuple[torch.device, torch.dtype], Any] = {}
        self.register_load_state_dict_post_hook(lambda module, _keys: module.clear_cache())

    compute_device: torch.device
    compute_dtype: torch.dtype

    def clear_cache(self) -> None:
        """Forget the cached no-face output (weights, device or dtype changed)."""
        self._no_face = {}

    def _apply(self, fn, recurse=True):  # .to() / .half() / .cuda(): cached tensors would be stale
        self.clear_cache()
        return super()._apply(fn, recurse)

    def cached_no_face(self, compute: Callable[[], T], cache: bool = True) -> T:
        """compute()'s result for this device and dtype, computed once while `cache` holds."""
        key = (self.compute_device, self.compute_dtype)
        if cache and key in self._no_face:
            return self._no_face[key]
        value = compute()
        if cache:
            self._no_face[key] = value
        return value
