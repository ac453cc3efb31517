"""Architecture of the FaceCLIP encoder as data: the official release is the default, tiny configs test the same code."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ...architecture import check_at_most, check_divisible, from_untrusted
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
        """The architecture a file states, checked (InvalidArchitecture naming the field) before any module is built."""
        config = from_untrusted(cls, data, BOUNDS, {"activation": ("quick_gelu", "gelu")})
        for b in ("l", "g"):
            check_divisible(config, [(f"{b}.text.width", f"{b}.text.heads"), (f"{b}.face.width", f"{b}.face.heads"),
                                     (f"{b}.text.width", f"{b}.fusion.text_heads"), (f"{b}.text.width", f"{b}.fusion.deform_heads"),
                                     (f"{b}.fusion.bi_attn_dim", f"{b}.fusion.bi_attn_heads")])
            check_at_most(config, [(f"{b}.face.patch_size", f"{b}.face.image_size")])
        return config


# What a file may state (field name -> inclusive range): well above the official sizes, far below what
# would exhaust a machine while the model is built on the meta device.
BOUNDS = {
    "width": (1, 16384), "layers": (1, 256), "heads": (1, 256), "mlp_ratio": (0.25, 16.0), "context_length": (1, 4096),
    "vocab_size": (1, 1_000_000), "image_size": (1, 4096), "patch_size": (1, 4096), "feature_dim": (1, 16384),
    "feature_bn_eps": (0.0, 1.0), "bi_attn_dim": (1, 65536), "bi_attn_heads": (1, 256), "text_heads": (1, 256),
    "text_ffn_dim": (1, 65536), "deform_heads": (1, 256), "deform_points": (1, 64), "deform_ffn_dim": (1, 65536),
}


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
