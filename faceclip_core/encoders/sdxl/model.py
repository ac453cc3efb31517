"""The two-branch FaceCLIP encoder: (face, prompt) -> SDXL context (N, 77, 2048) and pooled vector (N, 1280)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..attention import Operations
from ..placement import PlacedEncoder
from .branch import BranchFaceFeatures, FaceCLIPBranch
from .config import OFFICIAL, FaceCLIPConfig
from ...errors import UsageError
from ...face_input import faces_to_nchw
from ..tokenizer import ClipTokenizer, default_tokenizer


@dataclass
class FaceFeatures:
    """Features of F faces for both branches: computed once, reused for every prompt that uses the face."""

    l: BranchFaceFeatures
    g: BranchFaceFeatures

    def __len__(self) -> int:
        return len(self.l.identity)

    @classmethod
    def cat(cls, parts: list["FaceFeatures"]) -> "FaceFeatures":
        return cls(BranchFaceFeatures.cat([p.l for p in parts]), BranchFaceFeatures.cat([p.g for p in parts]))

    def index(self, rows: torch.Tensor) -> "FaceFeatures":
        return FaceFeatures(self.l.index(rows), self.g.index(rows))

    def mean(self) -> "FaceFeatures":
        """One face whose features are the average of all faces' (several photos of one person): see
        BranchFaceFeatures.mean."""
        return FaceFeatures(self.l.mean(), self.g.mean())


FaceIndex = Sequence[int | None]
log = logging.getLogger(__name__)


class FaceCLIPEncoder(PlacedEncoder):
    def __init__(self, config: FaceCLIPConfig = OFFICIAL, ops: Operations = nn, tokenizer: ClipTokenizer | None = None,
                 official_16_bit: bool = True):
        """`ops`: where Linear, LayerNorm, Conv2d and Embedding come from (a host may pass casting layers).
        `official_16_bit`: in bf16/fp16, compute the regions the official code computes in other precisions
        on CUDA (fuser in fp32; face ViT: fp32 stream, fp16 projections) the same way, on any device."""
        super().__init__()
        self.config = config
        self.face_clip_l = FaceCLIPBranch(config.l, ops, official_16_bit)
        self.face_clip_g = FaceCLIPBranch(config.g, ops, official_16_bit)
        self.tokenizer = tokenizer or default_tokenizer()
        self._id_token_id = self.tokenizer.encode(config.id_word)[0]
        # the identity slot can only be inside the prefix: start token + the prefix's tokens
        self._prefix_length = 1 + len(self.tokenizer.encode(config.id_prefix))

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.execution_dtype or self.face_clip_l.token_embedding.weight.dtype

    @property
    def compute_device(self) -> torch.device:
        return self.execution_device or self.face_clip_l.token_embedding.weight.device

    def encode_faces(self, faces: torch.Tensor) -> FaceFeatures:
        """Aligned crops (ComfyUI IMAGE (F,H,W,C) or (F,C,H,W), RGB [0, 1], any size) -> features of each face."""
        images = faces_to_nchw(faces).to(self.compute_device, self.compute_dtype)
        return FaceFeatures(self.face_clip_l.encode_face(images), self.face_clip_g.encode_face(images))

    def no_face_features(self) -> FaceFeatures:
        """The official negative path runs the face ViT on an all-black crop; its output depends only on the weights."""
        size = self.config.l.face.image_size
        return self.cached_no_face(lambda: self.encode_faces(torch.zeros(1, 3, size, size)), cache=not self.training)

    def tokenize(self, prompts: Sequence[str], with_face: Sequence[bool]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids (N, 77), with the identity prefix on face rows, and the mask of identity-token slots."""
        texts = [f"{self.config.id_prefix} {p}" if face else p for p, face in zip(prompts, with_face)]
        ids = self.tokenizer(texts).to(self.compute_device)
        in_prefix = torch.arange(ids.shape[1], device=ids.device) < self._prefix_length
        face_rows = torch.tensor(list(with_face), dtype=torch.bool, device=ids.device)
        return ids, (ids == self._id_token_id) & in_prefix & face_rows[:, None]

    def warn_truncated(self, prompts: Sequence[str], face_index: FaceIndex) -> list[int]:
        """Logs one warning naming each prompt cut to fit the 77-token context and how many tokens it lost
        (the identity prefix counts on face rows); returns the count per prompt. Callers that encode for a
        user (encode(), a host's node) call it once per request; training does not."""
        texts = [f"{self.config.id_prefix} {p}" if i is not None else p for p, i in zip(prompts, face_index)]
        dropped = [self.tokenizer.dropped_tokens(text) for text in texts]
        cut = [f"prompt {row + 1} lost its last {n} tokens" for row, n in enumerate(dropped) if n]
        if cut:
            log.warning("FaceCLIP reads %d tokens per prompt (start and end included); %s.",
                        self.tokenizer.context_length, ", ".join(cut))
        return dropped

    def forward(self, features: FaceFeatures | None, prompts: Sequence[str], face_index: FaceIndex) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode all prompts as one batch; row i uses face `face_index[i]` of `features`, or the no-face path if None."""
        if len(face_index) != len(prompts):
            raise UsageError(f"face_index has {len(face_index)} entries for {len(prompts)} prompts")
        n_faces = 0 if features is None else len(features)
        bad = [i for i in face_index if i is not None and not 0 <= i < n_faces]
        if bad:
            raise UsageError(f"face_index refers to face {bad[0]}, but {n_faces} face(s) were given")
        with_face = [i is not None for i in face_index]
        ids, id_slots = self.tokenize(prompts, with_face)
        # the no-face features sit after the real faces, so one gather builds every row
        table = FaceFeatures.cat([f for f in (features, self.no_face_features()) if f is not None])
        rows = torch.tensor([n_faces if i is None else i for i in face_index], device=ids.device)
        per_row = table.index(rows)
        context_l, _ = self.face_clip_l(ids, id_slots, per_row.l)
        context_g, pooled = self.face_clip_g(ids, id_slots, per_row.g)
        return torch.cat([context_l, context_g], dim=-1), pooled

    @torch.inference_mode()
    def encode(
        self, faces: torch.Tensor | None, prompts: str | Sequence[str], face_index: FaceIndex | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(faces, prompts) -> (context (N, 77, 2048), pooled (N, 1280)) in the model's dtype and device.

        `faces`: aligned crops (see `encode_faces`), or None for the no-face path on every row.
        `face_index`: which face each prompt uses (None = no face). Default: none if `faces` is None, the
        one face for every prompt if there is one face, else face i for prompt i.
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        features = None if faces is None else self.cached_faces(faces)
        if face_index is None:
            face_index = default_face_index(0 if features is None else len(features), len(prompts))
        self.warn_truncated(prompts, face_index)
        return self(features, prompts, face_index)


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
