"""The face features of the last few crops an encoder saw, so a queue run with the same face computes only the text side.

Entries are keyed by the crops' content (a hash of their bytes, shape and dtype) and the compute device and
dtype; PlacedEncoder drops them all when its weights change. Bounded in count and in bytes: least recently used
entries go first, and an entry larger than the byte bound is not kept.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from collections import OrderedDict
from typing import Any, Hashable

import torch

from ..errors import UsageError

ENTRIES_ENV = "FACECLIP_FACE_CACHE"  # crops (face batches) kept per loaded model; 0 turns the cache off
MEGABYTES_ENV = "FACECLIP_FACE_CACHE_MB"  # at most this many MiB of features per loaded model
DEFAULT_ENTRIES = 4
DEFAULT_MEGABYTES = 256


def content_key(faces: torch.Tensor) -> tuple:
    """What identifies a crop batch: its shape, dtype and a hash of its bytes (wherever it sits)."""
    data = faces.detach().to("cpu").contiguous()
    digest = hashlib.blake2b(data.reshape(-1).view(torch.uint8).numpy().tobytes(), digest_size=20).hexdigest()
    return tuple(faces.shape), str(faces.dtype), digest


def tensor_bytes(value: Any) -> int:
    """Bytes held by the tensors in `value` (a tensor, a dataclass of tensors, or a list/tuple of those)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if dataclasses.is_dataclass(value):
        return sum(tensor_bytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise UsageError(f"{name}={text!r} is not a whole number >= 0: set it to e.g. {default} (0 turns the face cache off).")
    return int(text)


class FaceCache:
    """A least-recently-used map from (crop content, device, dtype) to face features, bounded in count and bytes."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES, max_bytes: int = DEFAULT_MEGABYTES * 2**20):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.bytes = 0

    @classmethod
    def from_env(cls) -> "FaceCache":
        """Bounds from FACECLIP_FACE_CACHE (entries; 0 = off) and FACECLIP_FACE_CACHE_MB, else the defaults."""
        return cls(_env_int(ENTRIES_ENV, DEFAULT_ENTRIES), _env_int(MEGABYTES_ENV, DEFAULT_MEGABYTES) * 2**20)

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: Hashable, value: Any) -> None:
        size = tensor_bytes(value)
        if not self.enabled or size > self.max_bytes:
            return
        self._drop(key)
        while self._entries and (len(self._entries) >= self.max_entries or self.bytes + size > self.max_bytes):
            self._drop(next(iter(self._entries)))
        self._entries[key] = (value, size)
        self.bytes += size

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]
