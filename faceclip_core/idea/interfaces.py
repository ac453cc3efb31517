"""The SDXL pieces training needs, as small interfaces: ComfyUI's MODEL/CLIP/VAE, diffusers or test stand-ins fit them.

Conventions: the denoiser predicts the noise of x_t = sqrt(abar_t)*x0 + sqrt(1-abar_t)*eps at integer DDPM
timesteps t of SDXL's schedule (see schedule.py); latents are already scaled by the VAE's scaling factor.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import torch

# How a training prompt marks where the identity tokens go: "a photo of <idea> person".
PLACEHOLDER = "<idea>"


class PromptEncoder(Protocol):
    """SDXL's two text encoders (CLIP-L, CLIP-G) with a way to put learned token embeddings into a prompt."""

    def embedding_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The token embedding tables: (vocab, 768) for CLIP-L and (vocab, 1280) for CLIP-G. Read only."""
        ...

    def token_ids(self, text: str) -> tuple[list[int], list[int]]:
        """The BPE ids of `text` for CLIP-L and CLIP-G, without start, end or padding tokens."""
        ...

    def encode(self, prompts: Sequence[str], tokens_l: torch.Tensor, tokens_g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts that contain PLACEHOLDER once -> (context (B, L, 2048), pooled (B, 1280)).

        The placeholder stands for the n rows of tokens_l (n, 768) / tokens_g (n, 1280); gradients must flow to them.
        """
        ...


class Denoiser(Protocol):
    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """Predicted noise for latents x_t (B, 4, h, w) at timesteps t (B,), text context and pooled text embedding."""
        ...


class LatentEncoder(Protocol):
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> scaled latents (B, 4, H/8, W/8)."""
        ...


class FaceEmbedder(Protocol):
    def __call__(self, image: torch.Tensor) -> torch.Tensor | None:
        """One image (H, W, 3) in [0, 1] -> the ArcFace embedding (512,) of its main face, or None if it has none."""
        ...
