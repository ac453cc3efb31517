"""ID-Adapter: gated self-attention that writes the identity into the text condition the UNet sees."""
from __future__ import annotations

import torch
from torch import nn

from .attention import CrossAttention
from .config import IDEAConfig


class IDAdapter(nn.Module):
    """context (B, L, context_dim) + identity tokens (B, n, context_dim) -> context + gate_scale*tanh(gamma)*S.

    S is self-attention over the prompt's token states and the identity tokens, read at the prompt's positions.
    gamma starts at 0, so an untrained adapter returns the context unchanged and training starts from plain SDXL.
    """

    def __init__(self, config: IDEAConfig, operations=nn):
        super().__init__()
        self.gate_scale = config.gate_scale
        self.norm = operations.LayerNorm(config.context_dim)
        self.attn = CrossAttention(config.context_dim, config.context_dim, config.inner_dim, config.context_dim, config.heads, operations)
        self.gamma = nn.Parameter(torch.zeros(()))

    def gate(self, strength: float = 1.0) -> torch.Tensor:
        return strength * self.gate_scale * torch.tanh(self.gamma)

    def forward(self, context: torch.Tensor, identity: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        gate = self.gate(strength)
        if not torch.is_grad_enabled() and gate.item() == 0.0:
            return context  # exactly the input; also skips the attention at strength 0
        identity = identity.to(context.dtype).expand(context.shape[0], -1, -1)
        tokens = self.norm(torch.cat([context, identity], dim=1).to(self.norm.weight.dtype))
        update = self.attn(tokens, tokens)[:, : context.shape[1]]
        return context + (gate * update).to(context.dtype)
