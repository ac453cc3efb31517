"""One FaceCLIP branch (L or G): face ViT + CLIP text tower with the identity token + fusion encoder.

Attribute names follow the official checkpoint (`face_clip_l.*` / `face_clip_g.*`), so loading is a
strict `load_state_dict`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import Operations, like
from .config import BranchConfig
from ..face_vit import FaceViT
from .fusion import Fuser
from .text_tower import Transformer


@dataclass
class BranchFaceFeatures:
    """What one branch needs of a face: projected patch tokens (F, P, width) and identity token (F, width)."""

    patches: torch.Tensor
    id_token: torch.Tensor

    @classmethod
    def cat(cls, parts: list["BranchFaceFeatures"]) -> "BranchFaceFeatures":
        return cls(torch.cat([p.patches for p in parts]), torch.cat([p.id_token for p in parts]))

    def index(self, rows: torch.Tensor) -> "BranchFaceFeatures":
        return BranchFaceFeatures(self.patches[rows], self.id_token[rows])

    def mean(self) -> "BranchFaceFeatures":
        return BranchFaceFeatures(self.patches.mean(0, keepdim=True), self.id_token.mean(0, keepdim=True))


class FaceCLIPBranch(nn.Module):
    def __init__(self, cfg: BranchConfig, ops: Operations = nn):
        super().__init__()
        self.cfg = cfg
        width = cfg.text.width
        self.positional_embedding = nn.Parameter(torch.empty(cfg.text.context_length, width))
        # CLIP's contrastive head: kept for training, unused by the SDXL conditioning
        self.text_projection = nn.Parameter(torch.empty(width, width))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.logit_bias = nn.Parameter(torch.tensor(-10.0))
        self.transformer = Transformer(cfg.text, ops)
        self.token_embedding = ops.Embedding(cfg.text.vocab_size, width)
        self.ln_final = ops.LayerNorm(width)
        self.face_encoder = FaceViT(cfg.face, ops)
        self.proj1 = ops.Linear(cfg.face.feature_dim, width)
        self.face_patch_proj = ops.Linear(cfg.face.width, width)
        self.face_pos_proj = ops.Linear(cfg.face.width, width)
        self.text_embed_proj = ops.Linear(width, width)
        self.text_pos_proj = ops.Linear(width, width)
        self.fuser = Fuser(width, cfg.fusion, ops)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=width**-0.5)
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def encode_face(self, images: torch.Tensor) -> BranchFaceFeatures:
        """images (F, 3, H, W) in [0, 1] -> this branch's features of each face."""
        return self.project_face(*self.face_encoder(images))

    def project_face(self, tokens: torch.Tensor, identity: torch.Tensor) -> BranchFaceFeatures:
        """The face ViT's outputs (patch tokens, identity feature) -> this branch's face features."""
        return BranchFaceFeatures(self.face_patch_proj(tokens), self.proj1(F.normalize(identity, dim=-1)))

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
        context = self.fuser(
            image=face.patches,
            image_pos=self.face_pos_proj(like(self.face_encoder.pos_embed, states)),
            text=self.text_embed_proj(states),
            text_pos=self.text_pos_proj(like(self.positional_embedding, states))[None],
            grid=self.cfg.face.grid_size,
        )
        return context, pooled
