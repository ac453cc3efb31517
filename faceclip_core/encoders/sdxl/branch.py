"""One FaceCLIP branch (L or G): face ViT + CLIP text tower with the identity token + fusion encoder.

Attribute names follow the official checkpoint (`face_clip_l.*` / `face_clip_g.*`), so loading is a
strict `load_state_dict`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import Operations, like
from ..precision import SIXTEEN_BIT, run_in
from .config import BranchConfig
from ..face_vit import FaceViT
from .fusion import build_fuser
from .text_tower import Transformer


@dataclass
class BranchFaceFeatures:
    """What one branch needs of a face: projected patch tokens (F, P, width), the unit identity feature
    (F, feature_dim, fp32) and the identity token projected from it (F, width); `project` maps features to tokens."""

    patches: torch.Tensor
    identity: torch.Tensor
    id_token: torch.Tensor
    project: Callable[[torch.Tensor], torch.Tensor] = field(repr=False, compare=False)

    @classmethod
    def cat(cls, parts: list["BranchFaceFeatures"]) -> "BranchFaceFeatures":
        return cls(*(torch.cat([getattr(p, name) for p in parts]) for name in ("patches", "identity", "id_token")),
                   project=parts[0].project)

    def index(self, rows: torch.Tensor) -> "BranchFaceFeatures":
        return BranchFaceFeatures(self.patches[rows], self.identity[rows], self.id_token[rows], self.project)

    def mean(self) -> "BranchFaceFeatures":
        """One face from several: identity features averaged, made unit length again and projected (the
        projection only ever sees unit features, as in the official path); patch tokens averaged by position."""
        identity = F.normalize(self.identity.mean(0, keepdim=True), dim=-1)
        return BranchFaceFeatures(self.patches.mean(0, keepdim=True), identity, self.project(identity), self.project)


class FaceCLIPBranch(nn.Module):
    def __init__(self, cfg: BranchConfig, ops: Operations = nn, official_16_bit: bool = True):
        """official_16_bit: in 16 bits, the official code's precision regions (fuser in fp32, see FaceViT)."""
        super().__init__()
        self.cfg = cfg
        self.official_16_bit = official_16_bit
        width = cfg.text.width
        self.positional_embedding = nn.Parameter(torch.empty(cfg.text.context_length, width))
        # CLIP's contrastive head: kept for training, unused by the SDXL conditioning
        self.text_projection = nn.Parameter(torch.empty(width, width))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.logit_bias = nn.Parameter(torch.tensor(-10.0))
        self.transformer = Transformer(cfg.text, ops)
        self.token_embedding = ops.Embedding(cfg.text.vocab_size, width)
        self.ln_final = ops.LayerNorm(width)
        self.face_encoder = FaceViT(cfg.face, ops, official_16_bit)
        self.proj1 = ops.Linear(cfg.face.feature_dim, width)
        self.face_patch_proj = ops.Linear(cfg.face.width, width)
        self.face_pos_proj = ops.Linear(cfg.face.width, width)
        self.text_embed_proj = ops.Linear(width, width)
        self.text_pos_proj = ops.Linear(width, width)
        self.fuser = build_fuser(width, cfg.fusion, ops)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=width**-0.5)
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def encode_face(self, images: torch.Tensor) -> BranchFaceFeatures:
        """images (F, 3, H, W) in [0, 1] -> this branch's features of each face."""
        return self.project_face(*self.face_encoder(images))

    def project_face(self, tokens: torch.Tensor, identity: torch.Tensor) -> BranchFaceFeatures:
        """The face ViT's outputs (patch tokens, identity feature) -> this branch's face features."""
        # the official divides by an fp32 norm (a 16-bit feature is widened first)
        unit = F.normalize(identity.to(torch.promote_types(identity.dtype, torch.float32)), dim=-1)
        return BranchFaceFeatures(self.face_patch_proj(tokens), unit, self.identity_token(unit, tokens.dtype),
                                  lambda features: self.identity_token(features, tokens.dtype))

    def identity_token(self, unit_identity: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Unit identity features (F, feature_dim) -> the tokens that replace `id` (F, width), computed in dtype."""
        return self.proj1(unit_identity.to(dtype))

    def encode_text(self, ids: torch.Tensor, id_slots: torch.Tensor, id_token: torch.Tensor) -> torch.Tensor:
        """CLIP text states after ln_final (N, T, width); `id_token` (N, width) replaces the embedding where `id_slots`."""
        # the identity token carries the compute dtype (a host's embedding may return its storage dtype)
        x = self.token_embedding(ids).to(id_token.dtype)
        x = torch.where(id_slots[..., None], id_token[:, None, :], x)
        return self.ln_final(self.transformer(x + like(self.positional_embedding, x)))

    def forward(
        self, ids: torch.Tensor, id_slots: torch.Tensor, face: BranchFaceFeatures
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One row per prompt, each with its face features -> (context (N, T, width), pooled (N, width))."""
        states = self.encode_text(ids, id_slots, face.id_token)
        # pooled = state at the end token (the highest id), before any projection
        pooled = states[torch.arange(len(ids), device=ids.device), ids.argmax(dim=-1)]
        inputs = (
            face.patches,
            self.text_embed_proj(states),
            self.text_pos_proj(like(self.positional_embedding, states))[None],
            self.face_pos_proj(like(self.face_encoder.pos_embed, states)),  # the image layers' arguments
            self.cfg.face.grid_size,
        )
        if self.official_16_bit and states.dtype in SIXTEEN_BIT:
            # the official runs the fuser under fp32 autocast: fp32 compute on its 16-bit inputs
            return run_in(torch.float32, self.fuser, *inputs).to(states.dtype), pooled
        return self.fuser(*inputs), pooled
