"""CLIP score of generated images: 100 * max(0, cos(image embedding, prompt embedding)), as torchmetrics'
CLIPScore defines it, with the CLIP model of an open_clip checkpoint (`validate.clip`, architecture
`validate.clip_arch`).

The towers are the package's own (vision_tower.py's image tower, open_clip's text transformer from the
encoder), with open_clip's key names, so an open_clip checkpoint loads strictly; open_clip_torch itself is not
used because it imports torchvision, whose PyPI wheels do not load beside the CPU build of torch.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.sdxl.config import TextTowerConfig
from ..encoders.sdxl.text_tower import Transformer
from ..encoders.tokenizer import default_tokenizer
from ..errors import CheckpointError
from ..files.weights import read_checkpoint
from .config import run_file_advice
from .vision_tower import VISION_ARCHS, clip_pixels, load_vision_tower

# open_clip's text towers of the VISION_ARCHS models
TEXT_ARCHS = {
    "ViT-L-14": TextTowerConfig(width=768, layers=12, heads=12, activation="gelu"),
    "ViT-L-14-quickgelu": TextTowerConfig(width=768, layers=12, heads=12, activation="quick_gelu"),
    "ViT-bigG-14": TextTowerConfig(width=1280, layers=32, heads=20, activation="gelu"),
    "tiny-l": TextTowerConfig(width=32, layers=2, heads=2, activation="quick_gelu"),  # tests: tiny_config()'s L text tower
    "tiny-g": TextTowerConfig(width=48, layers=2, heads=2, activation="gelu"),
}
TEXT_PREFIXES = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.", "text_projection")


class TextTower(nn.Module):
    """open_clip's text side: token and positional embeddings, causal transformer, ln_final, end token, projection."""

    def __init__(self, cfg: TextTowerConfig, output_dim: int):
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.positional_embedding = nn.Parameter(torch.zeros(cfg.context_length, cfg.width))
        self.transformer = Transformer(cfg)
        self.ln_final = nn.LayerNorm(cfg.width)
        self.text_projection = nn.Parameter(torch.zeros(cfg.width, output_dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids (N, 77) -> L2-normalised text embeddings (N, output_dim)."""
        x = self.ln_final(self.transformer(self.token_embedding(ids) + self.positional_embedding))
        return F.normalize(x[torch.arange(len(ids)), ids.argmax(dim=-1)] @ self.text_projection, dim=-1)


class ClipScorer:
    def __init__(self, path: str | os.PathLike, arch: str):
        if arch not in TEXT_ARCHS:
            raise CheckpointError(f"Unknown CLIP architecture {arch!r} (validate.clip_arch); choose one of {', '.join(TEXT_ARCHS)}.")
        self.image = load_vision_tower(path, arch)
        raw, _ = read_checkpoint(path, run_file_advice("an open_clip CLIP checkpoint", "validate.clip"))
        self.text = TextTower(TEXT_ARCHS[arch], VISION_ARCHS[arch].output_dim)
        try:
            self.text.load_state_dict({k: v.float() for k, v in raw.items() if k.startswith(TEXT_PREFIXES)}, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{path} has no open_clip text tower of architecture {arch!r}: "
                                  f"{str(exc).splitlines()[0]}. Set validate.clip_arch to the file's architecture.") from exc
        self.text.eval().requires_grad_(False)

    @torch.no_grad()
    def __call__(self, images: list[np.ndarray], prompts: list[str]) -> list[float]:
        """CLIP score of each image (H, W, 3) uint8 against its prompt."""
        pixels = torch.stack([torch.from_numpy(np.ascontiguousarray(i)).permute(2, 0, 1) for i in images]).float() / 255.0
        image = self.image(clip_pixels(pixels, self.image.cfg.image_size))
        text = self.text(default_tokenizer()(prompts))
        return (100 * (image * text).sum(dim=-1).clamp(min=0)).tolist()
