"""Gradient checkpointing of a frozen model's layers: same gradients, fewer saved activations, model restored."""
from __future__ import annotations

import torch

from faceclip_core.idea.gradient_checkpointing import gradient_checkpointing


class Block(torch.nn.Module):
    """Takes keyword arguments, as the host UNet's layers do (Upsample's output_shape, transformers' options)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.GELU(), torch.nn.Linear(64, 16))

    def forward(self, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return x + scale * self.inner(x)


def _frozen_stack() -> torch.nn.ModuleList:
    torch.manual_seed(0)
    return torch.nn.ModuleList(Block() for _ in range(4)).requires_grad_(False)


def _grad_and_saved_count(blocks: torch.nn.ModuleList, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Gradient at the input through the frozen stack, and how many tensors autograd kept for backward (a
    checkpointed layer keeps only its input)."""
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += 1
        return tensor

    x = x.clone().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        h = x
        for block in blocks:
            h = block(h, scale=0.5)
    h.square().sum().backward()
    return x.grad, saved


def test_checkpointed_layers_give_the_same_gradient_and_save_fewer_tensors():
    blocks, x = _frozen_stack(), torch.randn(8, 16)
    plain_grad, plain_saved = _grad_and_saved_count(blocks, x)

    with gradient_checkpointing(blocks) as patched:
        checkpointed_grad, checkpointed_saved = _grad_and_saved_count(blocks, x)

    assert patched == 4
    torch.testing.assert_close(checkpointed_grad, plain_grad, rtol=0, atol=0)
    assert plain_saved >= 3 * 4 and checkpointed_saved == 4  # every Linear and GELU input, or each block's input


def test_the_model_is_restored_on_exit_even_after_an_error():
    blocks = _frozen_stack()
    try:
        with gradient_checkpointing(blocks):
            assert all("forward" in vars(block) for block in blocks)
            raise RuntimeError("training failed")
    except RuntimeError:
        pass
    assert all("forward" not in vars(block) for block in blocks)
    _, saved = _grad_and_saved_count(blocks, torch.randn(2, 16))
    assert saved > 0


def test_without_grad_the_original_forward_runs_and_a_foreign_patch_is_kept():
    blocks = _frozen_stack()
    foreign = blocks[0].forward = lambda x, scale=1.0: x * 0  # e.g. another node pack's patch
    with gradient_checkpointing(blocks) as patched, torch.no_grad():
        assert patched == 3 and blocks[0].forward is foreign
        x = torch.randn(2, 16)
        torch.testing.assert_close(blocks[1](x), Block.forward(blocks[1], x))
    assert blocks[0].forward is foreign
