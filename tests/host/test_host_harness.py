"""The real-host harness works: tiny models in the host's layouts, a headless host, graphs over HTTP.

Host tests skip without COMFYUI_PATH (see tests/host/setup_test_host.sh); the first test needs no host.
"""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from safetensors import safe_open

import make_tiny_models as tiny_files
import tiny_sdxl
from host.fixtures import comfy_path, comfy_server  # noqa: F401  (fixtures)
from host.graphs import core_sdxl_graph
from host.in_process import import_host_module
from host.server import ComfyServer

CORE_SDXL_NODES = ("UNETLoader", "DualCLIPLoader", "VAELoader", "CLIPTextEncodeSDXL", "EmptyLatentImage",
                   "KSampler", "VAEDecode", "SaveImage")


def _file_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    if path.suffix == ".safetensors":
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    return {k: tuple(v.shape) for k, v in torch.load(path, mmap=True, weights_only=True).items()}


def _transformer_depths(shapes: dict[str, tuple[int, ...]], blocks: range) -> list[int]:
    return [len({k.split(".")[4] for k in shapes if k.startswith(f"input_blocks.{i}.1.transformer_blocks.")})
            for i in blocks]


def test_tiny_model_files_have_the_keys_the_host_detects(tmp_path: Path) -> None:
    tiny_files.write_tiny_models(tmp_path)

    unet = _file_shapes(tmp_path / tiny_files.SDXL_UNET)
    assert unet == tiny_sdxl.unet_shapes()
    # what the host reads to call a UNet SDXL: 320 channels, adm 2816, context 2048, depths 0,0,2,2,10,10
    assert unet["input_blocks.0.0.weight"] == (320, 4, 3, 3)
    assert unet["label_emb.0.0.weight"] == (1280, 2816)
    assert unet["input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"] == (320, 2048)
    assert unet["input_blocks.4.1.proj_in.weight"] == (320, 320)  # linear, not a 1x1 conv
    assert _transformer_depths(unet, range(1, 9)) == [0, 0, 0, 2, 2, 0, 10, 10]  # 3 and 6 are downsamplers

    clip_l = _file_shapes(tmp_path / tiny_files.CLIP_L)
    clip_g = _file_shapes(tmp_path / tiny_files.CLIP_G)
    assert clip_l == tiny_sdxl.clip_text_shapes(tiny_sdxl.CLIP_L)
    assert clip_g == tiny_sdxl.clip_text_shapes(tiny_sdxl.CLIP_G)
    assert "text_model.encoder.layers.30.mlp.fc1.weight" in clip_g  # the host's CLIP-G marker
    assert clip_l["text_model.encoder.layers.0.mlp.fc1.weight"] == (3072, 768)
    # full-size towers, small files: compact strided tensors survive torch.save
    assert (tmp_path / tiny_files.CLIP_G).stat().st_size < 20_000_000

    vae = _file_shapes(tmp_path / tiny_files.SDXL_VAE)
    assert vae == tiny_sdxl.vae_shapes()
    assert vae["decoder.conv_in.weight"] == (512, 4, 3, 3)


def _shape_mismatches(ours: dict[str, tuple[int, ...]], module: torch.nn.Module) -> dict[str, object]:
    host = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    return {k: (ours.get(k), host.get(k)) for k in set(ours) | set(host) if ours.get(k) != host.get(k)}


def test_tiny_layouts_match_the_host_modules_key_for_key(comfy_path: Path) -> None:
    model_detection = import_host_module(comfy_path, "comfy.model_detection")
    comfy_sd = import_host_module(comfy_path, "comfy.sd")
    unet = tiny_sdxl.random_state_dict(tiny_sdxl.unet_shapes(), compact=True)

    model_config = model_detection.model_config_from_unet(unet, "")
    assert type(model_config).__name__ == "SDXL"
    with torch.device("meta"):  # shapes only
        model = model_config.get_model(unet, "")
    assert _shape_mismatches(tiny_sdxl.unet_shapes(), model.diffusion_model) == {}

    vae = comfy_sd.VAE(sd=tiny_sdxl.random_state_dict(tiny_sdxl.vae_shapes(), compact=True))
    assert _shape_mismatches(tiny_sdxl.vae_shapes(), vae.first_stage_model) == {}


def _dropdown_name(relative_path: str) -> str:
    return Path(relative_path).name


def _run_core_sdxl(server: ComfyServer, unet_name: str, **graph_options: object) -> list[Path]:
    graph = core_sdxl_graph(unet_name, _dropdown_name(tiny_files.CLIP_L), _dropdown_name(tiny_files.CLIP_G),
                            _dropdown_name(tiny_files.SDXL_VAE), **graph_options)
    result = server.run(graph, timeout_s=300)
    assert (result.status, result.node_type, result.error) == ("success", "", "")
    return server.output_images(result)


def test_object_info_lists_core_nodes_and_the_tiny_models(comfy_server: ComfyServer) -> None:
    info = comfy_server.object_info()
    assert set(CORE_SDXL_NODES) <= set(info)
    assert _dropdown_name(tiny_files.SDXL_UNET) in comfy_server.dropdown("UNETLoader", "unet_name")
    assert _dropdown_name(tiny_files.CLIP_G) in comfy_server.dropdown("DualCLIPLoader", "clip_name2")
    assert _dropdown_name(tiny_files.SDXL_VAE) in comfy_server.dropdown("VAELoader", "vae_name")


def test_core_sdxl_graph_makes_an_image(comfy_server: ComfyServer) -> None:
    images = _run_core_sdxl(comfy_server, _dropdown_name(tiny_files.SDXL_UNET), size=64, steps=1)

    assert len(images) == 1
    assert Image.open(images[0]).size == (64, 64)
    log = comfy_server.log_text()
    assert "unet missing" not in log and "clip missing" not in log


def test_a_bad_input_comes_back_as_the_hosts_message(comfy_server: ComfyServer) -> None:
    result = comfy_server.run(core_sdxl_graph("no_such_unet.safetensors", "a", "b", "c"))

    assert result.status == "rejected"
    assert "no_such_unet.safetensors" in result.error


def _write_diffusers_sdxl_unet(comfy_path: Path, path: Path) -> None:
    """A random SDXL UNet in diffusers key layout, 16-bit, saved with torch.save (as FaceCLIP's
    model/unet.pt is). Names come from the host's own diffusers -> native map. The host builds the
    full SDXL for any diffusers-layout SDXL, so the shapes are full size (compact on disk)."""
    model_detection = import_host_module(comfy_path, "comfy.model_detection")
    comfy_utils = import_host_module(comfy_path, "comfy.utils")
    native = tiny_sdxl.unet_shapes(tiny_sdxl.FULL_SDXL_UNET)
    config = model_detection.detect_unet_config({k: torch.empty(s, device="meta") for k, s in native.items()}, "")
    # the map also lists keys SDXL lacks, and class_embedding twins of SDXL's add_embedding
    diffusers_name = {n: d for d, n in comfy_utils.unet_to_diffusers(config).items()
                      if n in native and not d.startswith("class_embedding.")}
    assert set(diffusers_name) == set(native)
    state = tiny_sdxl.random_state_dict(native, dtype=torch.float16, compact=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({diffusers_name[k]: v for k, v in state.items()}, path)


def test_unet_loader_takes_a_diffusers_layout_16bit_pt(comfy_server: ComfyServer, comfy_path: Path) -> None:
    folder_paths = import_host_module(comfy_path, "folder_paths")
    assert ".pt" in folder_paths.folder_names_and_paths["diffusion_models"][1]
    path = comfy_server.models_dir / "unet" / "tiny_sdxl_unet_diffusers_fp16.pt"  # the legacy folder name
    _write_diffusers_sdxl_unet(comfy_path, path)
    assert "down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k.weight" in torch.load(path, mmap=True, weights_only=True)

    assert path.name in comfy_server.dropdown("UNETLoader", "unet_name")
    # the host builds the 2.6B-parameter SDXL (about 10 GB in fp32 on CPU): one step, one model call
    images = _run_core_sdxl(comfy_server, path.name, size=64, steps=1, cfg=1.0, filename_prefix="diffusers_unet")
    assert len(images) == 1
    assert "unet missing" not in comfy_server.log_text()
