"""Tiny SDXL-shaped stand-ins for ID-EA tests: two text encoders, a UNet-like denoiser, a VAE encoder, a face embedder.

Written here rather than built from diffusers/transformers: the trainer only sees the interfaces in
faceclip_core/idea/interfaces.py, these run a training step in milliseconds, and CI needs no extra packages.
The real host path (ComfyUI's MODEL/CLIP/VAE) is tested by the host harness.
"""
from __future__ import annotations

import math
import zlib
from typing import Sequence

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from faceclip_core.idea import (PLACEHOLDER, AnchorBank, IDEAConfig, IDEATrainer, TrainConfig, TrainResult, load_names,
                                prepare_training_set)
from faceclip_core.idea.adapter import IDAdapter
from faceclip_core.idea.enhancer import IDEnhancer

WIDTH_L, WIDTH_G, POOLED = 32, 48, 48
VOCAB, MAX_LENGTH = 96, 16
START, END, PAD = 0, 1, 2
TINY_CONFIG = IDEAConfig(width_l=WIDTH_L, width_g=WIDTH_G, inner_dim=32, heads=2)


@pytest.fixture
def single_thread():
    """Toy-sized ops only lose from threads, and on a shared 2-core machine they lose badly: run them on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def word_id(word: str) -> int:
    return 3 + zlib.crc32(word.lower().encode()) % (VOCAB - 3)


class TinyCLIP(nn.Module):
    """Token + position embeddings, one causal pre-norm transformer layer, final norm; pooled from the end token."""

    def __init__(self, width: int):
        super().__init__()
        self.token_embedding = nn.Embedding(VOCAB, width)
        self.position = nn.Parameter(torch.randn(MAX_LENGTH, width) * 0.02)
        self.layer = nn.TransformerEncoderLayer(width, 2, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.final_norm = nn.LayerNorm(width)
        self.projection = nn.Linear(width, POOLED, bias=False)

    def forward(self, embeds: torch.Tensor, end_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = nn.Transformer.generate_square_subsequent_mask(embeds.shape[1], device=embeds.device)
        hidden = self.layer(embeds + self.position, src_mask=mask, is_causal=True)
        pooled = self.projection(self.final_norm(hidden[torch.arange(len(hidden)), end_index]))
        return hidden, pooled


class TinyPromptEncoder(nn.Module):
    """The PromptEncoder interface over two TinyCLIPs, with a word-level tokenizer."""

    def __init__(self, width_l: int = WIDTH_L, width_g: int = WIDTH_G):
        super().__init__()
        self.clip_l, self.clip_g = TinyCLIP(width_l), TinyCLIP(width_g)

    def embedding_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.clip_l.token_embedding.weight, self.clip_g.token_embedding.weight

    def token_ids(self, text: str) -> tuple[list[int], list[int]]:
        ids = [word_id(w) for w in text.split()]
        return ids, ids

    def _embed(self, clip: TinyCLIP, prompt: str, tokens: torch.Tensor) -> tuple[torch.Tensor, int]:
        table = clip.token_embedding.weight
        pieces = [table[[START]]]
        for word in prompt.split():
            pieces.append(tokens.to(table) if word == PLACEHOLDER else table[[word_id(word)]])
        pieces.append(table[[END]])
        sequence = torch.cat(pieces)
        end_index = len(sequence) - 1
        return torch.cat([sequence, table[[PAD]].expand(MAX_LENGTH - len(sequence), -1)]), end_index

    def encode(self, prompts: Sequence[str], tokens_l: torch.Tensor, tokens_g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = []
        for clip, tokens in ((self.clip_l, tokens_l), (self.clip_g, tokens_g)):
            embedded = [self._embed(clip, p, tokens) for p in prompts]
            outputs.append(clip(torch.stack([e for e, _ in embedded]), torch.tensor([i for _, i in embedded])))
        (hidden_l, _), (hidden_g, pooled) = outputs
        return torch.cat([hidden_l, hidden_g], dim=-1), pooled


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class TinyUNet(nn.Module):
    """SDXL's conditioning paths at toy size: timestep + pooled-text (adm) embedding, cross-attention on the context."""

    def __init__(self, channels: int = 16, context_dim: int = WIDTH_L + WIDTH_G):
        super().__init__()
        self.channels = channels
        self.conv_in = nn.Conv2d(4, channels, 3, padding=1)
        self.time_embed = nn.Sequential(nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, channels))
        self.label_emb = nn.Linear(POOLED, channels)
        self.cross_attn = nn.MultiheadAttention(channels, 2, kdim=context_dim, vdim=context_dim, batch_first=True)
        self.conv_out = nn.Conv2d(channels, 4, 3, padding=1)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x_t)
        h = h + (self.time_embed(timestep_embedding(t, self.channels)) + self.label_emb(pooled))[:, :, None, None]
        b, c, height, width = h.shape
        tokens = h.flatten(2).transpose(1, 2)
        tokens = tokens + self.cross_attn(tokens, context, context, need_weights=False)[0]
        return self.conv_out(F.silu(tokens.transpose(1, 2).reshape(b, c, height, width)))


class TinyVAEEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 8, stride=8)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.conv(images * 2 - 1) * 0.13025


class ColourFaceEmbedder:
    """Stand-in for ArcFace: a fixed projection of an image's colour statistics; a black image has no face."""

    def __init__(self, seed: int = 0):
        self.projection = torch.randn(6, 512, generator=torch.Generator().manual_seed(seed))

    def __call__(self, image: torch.Tensor) -> torch.Tensor | None:
        if image.max() == 0:
            return None
        stats = torch.cat([image.mean((0, 1)), image.std((0, 1))])
        return F.normalize(stats @ self.projection, dim=0)


def make_models(seed: int = 0) -> tuple[TinyPromptEncoder, TinyUNet, TinyVAEEncoder]:
    torch.manual_seed(seed)
    return TinyPromptEncoder().eval(), TinyUNet().eval(), TinyVAEEncoder().eval()


def make_photos(count: int = 3, size: int = 32, seed: int = 0) -> list[torch.Tensor]:
    """Distinct smooth random images (H, W, 3) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return [F.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=(size, size), mode="bilinear")[0].permute(1, 2, 0) for _ in range(count)]


# SDXL's text widths with small attention, so the saved embedding has the real layout at a small cost
SDXL_WIDTHS = IDEAConfig(inner_dim=32, heads=2)


def sdxl_width_result() -> tuple[TrainResult, AnchorBank]:
    encoder = TinyPromptEncoder(768, 1280)
    anchor = AnchorBank.from_names(load_names()[:20], encoder)
    tokens_l, tokens_g = anchor.initial_tokens(2)
    face = torch.nn.functional.normalize(torch.randn(512), dim=0)
    result = TrainResult(tokens_l, tokens_g, IDEnhancer(SDXL_WIDTHS), IDAdapter(SDXL_WIDTHS), anchor, face, steps=7, losses=[0.5])
    return result, anchor


SETTINGS = TrainConfig(steps=4, batch_size=4, micro_batch=2, resolution=32, save_every=2)


def frozen(*modules: torch.nn.Module) -> None:
    for module in modules:
        module.requires_grad_(False)


def make_trainer(train: TrainConfig = SETTINGS, fingerprint: str = "tiny") -> tuple[IDEATrainer, tuple]:
    encoder, unet, vae = make_models()
    frozen(encoder, unet, vae)
    data = prepare_training_set(make_photos(), ColourFaceEmbedder(), vae, train.resolution)
    anchor = AnchorBank.from_names(load_names(), encoder)
    return IDEATrainer(encoder, unet, anchor, data, TINY_CONFIG, train, base_fingerprint=fingerprint), (encoder, unet)
