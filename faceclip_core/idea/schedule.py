"""SDXL's training noise schedule (scaled linear betas, 1000 steps) and the forward noising of latents."""
from __future__ import annotations

import torch

NUM_TIMESTEPS = 1000
BETA_START, BETA_END = 0.00085, 0.012


def alphas_cumprod() -> torch.Tensor:
    betas = torch.linspace(BETA_START**0.5, BETA_END**0.5, NUM_TIMESTEPS, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


def add_noise(latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * eps, per sample."""
    abar = alphas_cumprod().to(latents.device)[t].view(-1, 1, 1, 1)
    return abar.sqrt() * latents + (1 - abar).sqrt() * noise
