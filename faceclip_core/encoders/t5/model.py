"""FaceT5 in the release's layout: (face, prompt) -> FLUX's T5 context (N, 512, 4096) and CLIP-L pooled (N, 768).

`FaceT5Encoder` is the official FaceT5FluxWrapper's module tree (`encoder_1` = CLIP-L's text model,
`encoder_2` = FaceT5), so the released state dict loads key for key.
"""
from __future__ import annotations

import logging
from typing import Sequence

import torch
from torch import nn

from ..attention import Operations, like
from ..face_vit import FaceViT
from ..placement import PlacedEncoder
from ..sdxl.model import FaceIndex, default_face_index
from ...errors import UsageError
from ...face_input import faces_to_nchw
from .clip_text import ClipTextModel
from .config import OFFICIAL, FaceT5Config
from .fuser import Fuser
from .t5_stack import T5Stack
from .tokenizers import clip_tokenizer, t5_tokenizer

log = logging.getLogger(__name__)


class FaceT5(nn.Module):
    """Face ViT patch tokens and T5 text tokens through the fuser; the output is the fused text stream."""

    def __init__(self, cfg: FaceT5Config, ops: Operations = nn):
        super().__init__()
        width = cfg.t5.d_model
        self.face_encoder = FaceViT(cfg.face, ops)
        self.t5_encoder = T5Stack(cfg.t5, ops)
        self.face_patch_proj = ops.Linear(cfg.face.width, width)
        # the reference passes its output where the image layers expect a mask: loaded, never used
        self.face_pos_proj = ops.Linear(cfg.face.width, width)
        self.fuser = Fuser(width, cfg.fuser, ops)
        # a sinusoid table stored (16-bit rounded) in the release: read from the file, not recomputed
        self.register_buffer("positional_embedding", torch.zeros(1, cfg.context_length, width))

    def face_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Aligned crops (F, 3, H, W) in [0, 1] -> projected patch tokens (F, P, d_model)."""
        patches, _identity = self.face_encoder(images)
        return self.face_patch_proj(patches)

    def forward(self, face_tokens: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """face_tokens (N, P, d_model) per row, T5 ids (N, T) -> fused context (N, T, d_model)."""
        text = self.t5_encoder(ids, face_tokens.dtype)
        return self.fuser(face_tokens, text, like(self.positional_embedding, text))


class FaceT5Encoder(PlacedEncoder):
    def __init__(self, config: FaceT5Config = OFFICIAL, ops: Operations = nn):
        """`ops`: where Linear, LayerNorm, Conv2d and Embedding come from (a host may pass casting layers)."""
        super().__init__()
        self.config = config
        self.encoder_1 = ClipTextModel(config.clip, ops)
        self.encoder_2 = FaceT5(config, ops)
        self.clip_tokenizer = clip_tokenizer(config.clip.positions)
        self.t5_tokenizer = t5_tokenizer(config.context_length)

    @property
    def compute_dtype(self) -> torch.dtype:
        if self.execution_dtype is not None:
            return self.execution_dtype
        dtype = self.encoder_2.face_patch_proj.bias.dtype
        return dtype if dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.float32

    @property
    def compute_device(self) -> torch.device:
        return self.execution_device or self.encoder_2.face_patch_proj.bias.device

    def encode_faces(self, faces: torch.Tensor) -> torch.Tensor:
        """Aligned crops (ComfyUI IMAGE (F,H,W,C) or (F,C,H,W), RGB [0, 1], any size) -> face tokens (F, P, d_model)."""
        images = faces_to_nchw(faces).to(self.compute_device, self.compute_dtype)
        return self.encoder_2.face_tokens(images)

    def no_face_tokens(self) -> torch.Tensor:
        """The official negative runs a black crop through the face path; its tokens depend only on the weights."""
        size = self.config.face.image_size
        return self.cached_no_face(lambda: self.encode_faces(torch.zeros(1, 3, size, size)))

    def forward(self, face_tokens: torch.Tensor | None, prompts: Sequence[str], face_index: FaceIndex) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode all prompts as one batch; row i uses face `face_index[i]` of `face_tokens`, or the no-face path if None."""
        if not prompts:
            raise UsageError("no prompt was given: FaceT5 encodes one row per prompt")
        if len(face_index) != len(prompts):
            raise UsageError(f"face_index has {len(face_index)} entries for {len(prompts)} prompts")
        n_faces = 0 if face_tokens is None else len(face_tokens)
        bad = [i for i in face_index if i is not None and not 0 <= i < n_faces]
        if bad:
            raise UsageError(f"face_index refers to face {bad[0]}, but {n_faces} face(s) were given")
        device, dtype = self.compute_device, self.compute_dtype
        table = torch.cat([t for t in (face_tokens, self.no_face_tokens()) if t is not None])
        rows = torch.tensor([n_faces if i is None else i for i in face_index], device=device)
        t5_ids = self.t5_tokenizer(prompts).to(device)
        context = self.encoder_2(table[rows], t5_ids)
        clip_ids = self.clip_tokenizer(prompts).to(device)
        pooled = self.encoder_1(clip_ids, self.clip_tokenizer.end_id, dtype)
        return context, pooled

    def warn_truncated(self, prompts: Sequence[str], face_index: FaceIndex | None = None) -> list[int]:
        """Logs one warning naming each prompt cut to fit T5's context and how many tokens it lost; returns the
        count per prompt. `face_index` is unused (no prefix here): it keeps the FaceCLIP-SDXL encoder's signature."""
        dropped = [self.t5_tokenizer.dropped_tokens(p) for p in prompts]
        cut = [f"prompt {row + 1} lost its last {n} tokens" for row, n in enumerate(dropped) if n]
        if cut:
            log.warning("FaceT5 reads %d T5 tokens per prompt (end included); %s.", self.t5_tokenizer.context_length,
                        ", ".join(cut))
        return dropped

    @torch.inference_mode()
    def encode(
        self, faces: torch.Tensor | None, prompts: str | Sequence[str], face_index: FaceIndex | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(faces, prompts) -> (context (N, 512, d_model), pooled (N, 768)) in the compute dtype, on the compute device.

        Prompts go in as given (no identity prefix, unlike FaceCLIP-SDXL). `faces`: aligned crops (see
        `encode_faces`), or None for the no-face path (the official negative) on every row. `face_index`:
        which face each prompt uses (None = no face); default as FaceCLIPEncoder.encode. Each row equals
        the official one-face-one-prompt call, however many rows are batched.
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        tokens = None if faces is None else self.cached_faces(faces)
        if face_index is None:
            face_index = default_face_index(0 if tokens is None else len(tokens), len(prompts))
        self.warn_truncated(prompts, face_index)
        return self(tokens, prompts, face_index)
