"""The tiny FLUX files are what the release and the host's loaders read: diffusers' key layout for the
transformer (as `dit.pt`), the LDM layout with a 16-channel latent for the VAE (as `ae.safetensors`).
The host side of the check: tests/host/test_host_facet5.py."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import make_tiny_models as tiny_files
import tiny_flux


def test_dit_layout_is_diffusers_flux_transformer_key_for_key():
    diffusers = pytest.importorskip("diffusers", reason="diffusers (requirements-idea.txt) gives the reference layout")
    with torch.device("meta"):  # shapes only
        model = diffusers.FluxTransformer2DModel(num_layers=1, num_single_layers=1, guidance_embeds=True)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == tiny_flux.dit_shapes()


def test_tiny_flux_files_load_safely_with_the_layouts(tmp_path: Path):
    tiny_files.write_tiny_models(tmp_path, ["flux_dit", "flux_vae"])

    dit = torch.load(tmp_path / tiny_files.FLUX_DIT, weights_only=True, mmap=True)
    assert {k: tuple(v.shape) for k, v in dit.items()} == tiny_flux.dit_shapes()
    assert {v.dtype for v in dit.values()} == {torch.bfloat16}
    assert (tmp_path / tiny_files.FLUX_DIT).stat().st_size < 5_000_000  # 0.55 B parameters, compact

    with safe_open(str(tmp_path / tiny_files.FLUX_VAE), framework="pt") as f:
        vae = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    assert vae == tiny_flux.vae_shapes()
    assert vae["decoder.conv_in.weight"] == (512, 16, 3, 3) and "post_quant_conv.weight" not in vae
