"""FaceT5 taking its T5 from a stock `t5xxl_*.safetensors`: ComfyUI's own T5 module and file layout.

Skips without COMFYUI_PATH. Builds the host's T5 encoder class (comfy/text_encoders/t5.py) at a reduced
size with seeded random weights, saves its state dict as ComfyUI stores t5xxl files, loads a FaceT5 file
with `t5_path=` that file, and checks that our T5 stack computes what the host's T5 computes on the
same token ids: the key mapping is complete and both layouts are the same function. (Whether the
release's T5 values equal a stock T5-XXL's can only be told from the two real files.)
"""
from __future__ import annotations

import json

import torch
from safetensors.torch import save_file

from faceclip_core.encoders.t5.loader import load_facet5
from host.fixtures import comfy_path  # noqa: F401  (fixture)
from host.in_process import import_host_module
from tiny_facet5 import tiny_facet5_config, write_tiny_facet5


def test_stock_t5_file_gives_the_hosts_t5(comfy_path, tmp_path):  # noqa: F811
    t5_module = import_host_module(comfy_path, "comfy.text_encoders.t5")
    ops = import_host_module(comfy_path, "comfy.ops")
    cfg = tiny_facet5_config().t5
    config = json.loads((comfy_path / "comfy/text_encoders/t5_config_xxl.json").read_text())
    assert (config["d_kv"], config["relative_attention_num_buckets"], config["vocab_size"]) == (64, cfg.num_buckets, cfg.vocab_size)
    config.update(d_model=cfg.d_model, num_heads=cfg.heads, d_ff=cfg.d_ff, num_layers=cfg.layers)
    host_t5 = t5_module.T5(config, torch.float32, "cpu", ops.manual_cast)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in host_t5.state_dict().values():
            scale = tensor.shape[-1] ** -0.5 if tensor.ndim > 1 else 0.1
            tensor.copy_(torch.randn(tensor.shape, generator=gen) * scale + (1.0 if tensor.ndim == 1 else 0.0))
    t5xxl = tmp_path / "t5xxl_fp32.safetensors"
    save_file({k: v.contiguous() for k, v in host_t5.state_dict().items()}, str(t5xxl))

    facet5 = load_facet5(write_tiny_facet5(tmp_path / "face_t5_encoder.pt"), t5_path=t5xxl)
    ids = facet5.t5_tokenizer(["A woman wearing a blue denim shirt, on a rocky desert plateau", "worst quality"])
    with torch.inference_mode():
        ours = facet5.encoder_2.t5_encoder(ids, torch.float32)
        hosts = host_t5(ids, None)[0]
    assert ours.shape == hosts.shape == (2, 512, cfg.d_model)
    assert (ours - hosts).abs().max().item() < 1e-4
