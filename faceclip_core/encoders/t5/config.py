"""Architecture of a FaceT5 file, read from its tensors' names and shapes (the release stores no config).

What shapes cannot tell is fixed by the official code: T5 RMSNorm eps 1e-6, relative-position max
distance 128, CLIP-L 12 heads, the face ViT's 8 heads and 112 px input, the fuser's 4 text and
bi-attention heads. The fuser's image layers have 8 heads, but their attention runs over the batch
axis with one row (see fuser.py), so their head count never matters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from ..face_vit import FaceViTConfig
from ...errors import CheckpointError

CLIP_PREFIX = "encoder_1.text_model."
FACET5_PREFIX = "encoder_2."
T5_PREFIX = FACET5_PREFIX + "t5_encoder."
FUSER_PREFIX = FACET5_PREFIX + "fuser.encoder."
FACE_PREFIX = FACET5_PREFIX + "face_encoder."


@dataclass(frozen=True)
class ClipTextConfig:
    """CLIP-L's text model in transformers' CLIPTextModel layout (pre-norm, causal, quick_gelu)."""

    width: int = 768
    layers: int = 12
    heads: int = 12
    ffn_dim: int = 3072
    vocab_size: int = 49408
    positions: int = 77


@dataclass(frozen=True)
class T5StackConfig:
    """T5-v1.1's encoder stack (flash-T5 key names): gated tanh-GELU FFN, RMSNorm, block-0 relative bias."""

    d_model: int = 4096
    layers: int = 24
    heads: int = 64
    inner_dim: int = 4096  # heads * 64
    d_ff: int = 10240
    vocab_size: int = 32128
    num_buckets: int = 32
    max_distance: int = 128
    eps: float = 1e-6


@dataclass(frozen=True)
class FusionConfig:
    """The fuser: per layer bi-attention fusion, then a text self-attention layer, then an image layer."""

    layers: int = 6
    bi_attn_dim: int = 1024
    bi_attn_heads: int = 4
    text_heads: int = 4
    text_ffn_dim: int = 1024
    image_ffn_dim: int = 2048


@dataclass(frozen=True)
class FaceT5Config:
    clip: ClipTextConfig = field(default_factory=ClipTextConfig)
    t5: T5StackConfig = field(default_factory=T5StackConfig)
    face: FaceViTConfig = field(default_factory=FaceViTConfig)
    fuser: FusionConfig = field(default_factory=FusionConfig)
    context_length: int = 512  # T5 tokens per prompt = rows of the stored positional table

    @property
    def context_dim(self) -> int:
        return self.t5.d_model

    @property
    def pooled_dim(self) -> int:
        return self.clip.width


OFFICIAL = FaceT5Config()


def _count(keys: list[str], pattern: str) -> int:
    """How many numbered children `pattern` (a regex with one group for the index) finds."""
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def is_facet5(keys: list[str]) -> bool:
    return any(k.startswith(T5_PREFIX) for k in keys) and any(k.startswith(CLIP_PREFIX) for k in keys)


def config_from_shapes(shapes: dict[str, torch.Size], where: str = "the file") -> FaceT5Config:
    """The architecture of a state dict in the release's layout, from its key names and tensor shapes."""
    keys = list(shapes)

    def shape(key: str) -> torch.Size:
        if key not in shapes:
            raise CheckpointError(
                f"{where} is not a FaceT5 encoder in the release's layout: it has no '{key}'. "
                "Use face_t5_encoder.pt from Hugging Face ByteDance/FaceCLIP (model/face_t5_encoder.pt)."
            )
        return shapes[key]

    attn0 = T5_PREFIX + "block.0.self_attention_layer.self_attention."
    clip = ClipTextConfig(
        width=shape(CLIP_PREFIX + "embeddings.token_embedding.weight")[1],
        vocab_size=shape(CLIP_PREFIX + "embeddings.token_embedding.weight")[0],
        positions=shape(CLIP_PREFIX + "embeddings.position_embedding.weight")[0],
        layers=_count(keys, re.escape(CLIP_PREFIX) + r"encoder\.layers\.(\d+)\."),
        ffn_dim=shape(CLIP_PREFIX + "encoder.layers.0.mlp.fc1.weight")[0],
    )
    t5 = T5StackConfig(
        d_model=shape(T5_PREFIX + "embed_tokens.weight")[1],
        vocab_size=shape(T5_PREFIX + "embed_tokens.weight")[0],
        layers=_count(keys, re.escape(T5_PREFIX) + r"block\.(\d+)\."),
        inner_dim=shape(attn0 + "Wq.weight")[0],
        heads=shape(attn0 + "pe_encoding.relative_attention_bias.weight")[1],
        num_buckets=shape(attn0 + "pe_encoding.relative_attention_bias.weight")[0],
        d_ff=shape(T5_PREFIX + "block.0.ff_layer.act.wi_0.weight")[0],
    )
    patch = shape(FACE_PREFIX + "patch_embed.proj.weight")
    face = FaceViTConfig(
        image_size=112,
        patch_size=patch[-1],
        width=patch[0],
        layers=_count(keys, re.escape(FACE_PREFIX) + r"blocks\.(\d+)\."),
        heads=8,
        mlp_ratio=shape(FACE_PREFIX + "blocks.0.mlp.fc1.weight")[0] / patch[0],
        feature_dim=shape(FACE_PREFIX + "feature.2.weight")[0],
    )
    fuser = FusionConfig(
        layers=_count(keys, re.escape(FUSER_PREFIX) + r"layers\.(\d+)\."),
        bi_attn_dim=shape(FUSER_PREFIX + "fusion_layers.0.attn.v_proj.weight")[0],
        text_ffn_dim=shape(FUSER_PREFIX + "text_layers.0.linear1.weight")[0],
        image_ffn_dim=shape(FUSER_PREFIX + "layers.0.linear1.weight")[0],
    )
    table = shape(FACET5_PREFIX + "positional_embedding")
    return FaceT5Config(clip=clip, t5=t5, face=face, fuser=fuser, context_length=table[1])
