"""Architecture of the FaceCLIP encoder as data: the official release is the default, tiny configs test the same code."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ..face_vit import FaceViTConfig


@dataclass(frozen=True)
class TextTowerConfig:
    """An open_clip text transformer (causal, pre-norm, argmax pooling)."""

    width: int = 768
    layers: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    activation: str = "quick_gelu"  # "quick_gelu" (ViT-L-14-quickgelu) or "gelu" (exact, ViT-bigG-14)
    context_length: int = 77
    vocab_size: int = 49408


@dataclass(frozen=True)
class FusionConfig:
    """The Grounding-DINO-style feature enhancer over face patches and text tokens."""

    layers: int = 6
    bi_attn_dim: int = 1024  # inner width of the image<->text cross-attention
    bi_attn_heads: int = 4
    text_heads: int = 4
    text_ffn_dim: int = 1024
    deform_heads: int = 8
    deform_points: int = 4
    deform_ffn_dim: int = 2048


@dataclass(frozen=True)
class BranchConfig:
    face: FaceViTConfig = field(default_factory=FaceViTConfig)
    text: TextTowerConfig = field(default_factory=TextTowerConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)


def _official_l() -> BranchConfig:
    return BranchConfig(text=TextTowerConfig(width=768, layers=12, heads=12, activation="quick_gelu"))


def _official_g() -> BranchConfig:
    return BranchConfig(text=TextTowerConfig(width=1280, layers=32, heads=20, activation="gelu"))


@dataclass(frozen=True)
class FaceCLIPConfig:
    """Both branches. Context = concat(L, G) on the channel dim; pooled = the G branch's."""

    l: BranchConfig = field(default_factory=_official_l)
    g: BranchConfig = field(default_factory=_official_g)
    id_prefix: str = "Photo of a id person."
    id_word: str = "id"

    @property
    def context_dim(self) -> int:
        return self.l.text.width + self.g.text.width

    @property
    def pooled_dim(self) -> int:
        return self.g.text.width

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FaceCLIPConfig":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FaceCLIPConfig":
        def branch(d: dict[str, Any]) -> BranchConfig:
            return BranchConfig(
                face=FaceViTConfig(**d["face"]), text=TextTowerConfig(**d["text"]), fusion=FusionConfig(**d["fusion"])
            )

        return cls(l=branch(data["l"]), g=branch(data["g"]), id_prefix=data["id_prefix"], id_word=data["id_word"])


OFFICIAL = FaceCLIPConfig()


def tiny_config() -> FaceCLIPConfig:
    """A few-MB model of the same code for tests: every layer kind present, widths and depths cut."""
    face = FaceViTConfig(image_size=36, patch_size=9, width=32, layers=2, heads=2, feature_dim=16)
    fusion = FusionConfig(layers=2, bi_attn_dim=32, bi_attn_heads=2, text_heads=2, text_ffn_dim=32,
                          deform_heads=2, deform_points=2, deform_ffn_dim=48)
    return FaceCLIPConfig(
        l=BranchConfig(face=face, fusion=fusion, text=TextTowerConfig(width=32, layers=2, heads=2, activation="quick_gelu")),
        g=BranchConfig(face=face, fusion=fusion, text=TextTowerConfig(width=48, layers=2, heads=2, activation="gelu")),
    )
