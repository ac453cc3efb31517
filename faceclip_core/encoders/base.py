"""What both encoders share around their modules: which face each prompt uses, encode(), where it computes,
and the face work cached there (the no-face output, and the features of the last few face crops)."""
from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

import torch
from torch import nn

from ..errors import UsageError
from .face_cache import FaceCache, content_key

T = TypeVar("T")
# which face each prompt uses: an index into the given faces, or None for the no-face path
FaceIndex = Sequence[int | None]


def default_face_index(n_faces: int, n_prompts: int) -> list[int | None]:
    if n_faces == 0:
        return [None] * n_prompts
    if n_faces == 1:
        return [0] * n_prompts
    if n_faces == n_prompts:
        return list(range(n_prompts))
    raise UsageError(
        f"{n_faces} faces and {n_prompts} prompts: give one face for all prompts, one face per prompt, "
        "or say which face each prompt uses with face_index"
    )


def face_rows(face_index: FaceIndex, n_prompts: int, n_faces: int, device: torch.device) -> torch.Tensor:
    """Each prompt's row in a table of the `n_faces` faces followed by the no-face entry (row `n_faces`)."""
    if len(face_index) != n_prompts:
        raise UsageError(f"face_index has {len(face_index)} entries for {n_prompts} prompts")
    bad = [i for i in face_index if i is not None and not 0 <= i < n_faces]
    if bad:
        raise UsageError(f"face_index refers to face {bad[0]}, but {n_faces} face(s) were given")
    return torch.tensor([n_faces if i is None else i for i in face_index], device=device)


class PlacedEncoder(nn.Module):
    """An encoder whose host may compute it elsewhere than its weights sit (ComfyUI's low-VRAM mode streams
    weights to the GPU layer by layer and sets execution_device/dtype), with the face work cached per (device,
    dtype): the official negative's black-face output, and the features of the last few crops (`face_cache`,
    bounded by FACECLIP_FACE_CACHE / FACECLIP_FACE_CACHE_MB when the encoder is built). Both are dropped when the
    weights change: loaded, converted to another dtype, or modified in place. Moving the weights to another
    device and back (what a host does between queue runs) keeps them: their values, and so the features, are
    the same. Subclasses define compute_device, compute_dtype and encode_faces."""

    def __init__(self) -> None:
        super().__init__()
        # None = where the weights are. Not named device/dtype: hosts set those on the models they manage.
        self.execution_device: torch.device | None = None
        self.execution_dtype: torch.dtype | None = None
        self._no_face: dict[tuple[torch.device, torch.dtype], Any] = {}
        self.face_cache = FaceCache.from_env()
        self._cached_for: tuple | None = None  # the weights the cached values were computed with
        self.register_load_state_dict_post_hook(lambda module, _keys: module.clear_cache())

    compute_device: torch.device
    compute_dtype: torch.dtype

    def encode_faces(self, faces: torch.Tensor) -> Any:
        """Aligned crops (ComfyUI IMAGE (F,H,W,C) or (F,C,H,W), RGB [0, 1], any size) -> what forward() takes per face."""
        raise NotImplementedError

    def mean_of_faces(self, features: Any) -> Any:
        """encode_faces() of several photos of one person -> one face, their average."""
        raise NotImplementedError

    def warn_truncated(self, prompts: Sequence[str], face_index: FaceIndex) -> list[int]:
        """Logs one warning naming each prompt cut to fit the context; returns the tokens each prompt lost."""
        raise NotImplementedError

    @torch.inference_mode()
    def encode(
        self, faces: torch.Tensor | None, prompts: str | Sequence[str], face_index: FaceIndex | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(faces, prompts) -> (context, pooled) in the compute dtype, on the compute device (shapes: the subclass).

        `faces`: aligned crops (see `encode_faces`), or None for the no-face path (the official negative) on every
        row. `face_index`: which face each prompt uses (None = no face). Default: none if `faces` is None, the one
        face for every prompt if there is one face, else face i for prompt i.
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        features = None if faces is None else self.cached_faces(faces)  # the same face as last run: reused
        if face_index is None:
            face_index = default_face_index(0 if features is None else len(features), len(prompts))
        self.warn_truncated(prompts, face_index)
        return self(features, prompts, face_index)

    def clear_cache(self) -> None:
        """Forget the cached face work (weights, device or dtype changed)."""
        self._no_face = {}
        self.face_cache.clear()
        self._cached_for = None

    def _apply(self, fn, recurse=True):  # .to() / .half() / .cuda(): a dtype change makes cached tensors stale
        before = self._weights_identity()
        result = super()._apply(fn, recurse)
        if self._weights_identity() != before:
            self.clear_cache()
        return result

    def _weights_identity(self) -> tuple:
        """Which tensors the parameters are, their dtypes and in-place change counts (optimizer steps, copy_ under
        no_grad and load_state_dict bump a tensor's version), and the buffers' dtypes; not where they sit (a move
        keeps a parameter's identity but makes new buffer tensors). Parameters made under inference_mode
        (weights a host loaded inside its inference_mode) keep no count."""
        params = tuple((id(t), t.dtype, None if t.is_inference() else t._version) for t in self.parameters())
        return params + tuple(t.dtype for t in self.buffers())

    def _check_weights(self) -> None:
        identity = self._weights_identity()
        if identity != self._cached_for:
            self.clear_cache()
            self._cached_for = identity

    def cached_no_face(self, compute: Callable[[], T], cache: bool = True) -> T:
        """compute()'s result for this device and dtype, computed once while `cache` holds."""
        if not cache:
            return compute()
        self._check_weights()
        key = (self.compute_device, self.compute_dtype)
        if key not in self._no_face:
            self._no_face[key] = compute()
        return self._no_face[key]

    def cached_faces(self, faces: torch.Tensor) -> Any:
        """encode_faces(faces), reused while the same crops come again on this device and dtype with the same weights.
        Not cached while training or computing gradients (the features must then carry the graph), nor for tensors
        without bytes to key on (fake or meta tensors, as memory and FLOP estimates use)."""
        has_bytes = type(faces) is torch.Tensor and not faces.is_meta
        if self.training or torch.is_grad_enabled() or not self.face_cache.enabled or not has_bytes:
            return self.encode_faces(faces)
        self._check_weights()
        key = (self.compute_device, self.compute_dtype, content_key(faces))
        features = self.face_cache.get(key)
        if features is None:
            features = self.encode_faces(faces)
            self.face_cache.put(key, features)
        return features
