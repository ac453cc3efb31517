"""FaceT5 + FLUX.1-dev in a real ComfyUI (headless, CPU, tiny models under the workflow's file names).

Skips unless COMFYUI_PATH points to a ComfyUI checkout (see tests/host/setup_test_host.sh). Proves the three
host-side claims: the release's `dit.pt` (diffusers layout, torch.save) loads in Load Diffusion Model as is; the
FaceT5 nodes give the conditioning the host's FLUX model reads; the faceclip_flux_portrait workflow runs.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import make_tiny_models as tiny_files
import tiny_flux
from host.fixtures import comfy_path, comfy_server  # noqa: F401  (fixtures)
from host.graphs import api_workflow, quick
from host.in_process import import_host_module
from host.server import ComfyServer
from tiny_facet5 import tiny_facet5_config
from tiny_sdxl import random_state_dict
from workflow_format import FACE_IMAGE, PACK_NODES

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = "faceclip_flux_portrait"


@pytest.fixture(scope="module")
def server(comfy_server: ComfyServer) -> ComfyServer:
    shutil.copy(ROOT / "example_workflows" / "input" / FACE_IMAGE, comfy_server.input_dir / FACE_IMAGE)
    return comfy_server


def node(graph: dict, class_type: str, **has: object) -> dict:
    """The graph's one node of `class_type` whose inputs include `has` (names; a value of None: any value)."""
    [found] = [n for n in graph.values() if n["class_type"] == class_type
               and all(k in n["inputs"] and v in (None, n["inputs"][k]) for k, v in has.items())]
    return found


def test_release_dit_loads_in_the_hosts_diffusion_model_loader_as_is(comfy_path: Path, tmp_path: Path) -> None:
    """What UNETLoader calls, on a diffusers-layout FLUX.1-dev state dict saved with torch.save (the release's
    dit.pt): detected as FLUX.1-dev, every tensor used, values where the host's layout puts them."""
    comfy_sd = import_host_module(comfy_path, "comfy.sd")
    [path] = tiny_files.write_tiny_models(tmp_path, ["flux_dit"])
    file = torch.load(path, weights_only=True)

    patcher = comfy_sd.load_diffusion_model(str(path))

    assert type(patcher.model.model_config).__name__ == "Flux"  # dev (guidance embedder), not schnell
    flux = patcher.model.diffusion_model
    config = tiny_flux.TINY_FLUX_DEV
    assert (flux.params.depth, flux.params.depth_single_blocks) == (config.double_blocks, config.single_blocks)
    assert flux.params.guidance_embed and flux.params.vec_in_dim == config.pooled
    loaded = flux.state_dict()
    assert sum(t.numel() for t in loaded.values()) == sum(t.numel() for t in file.values())  # nothing left over
    torch.testing.assert_close(loaded["img_in.weight"], file["x_embedder.weight"].to(loaded["img_in.weight"].dtype))
    qkv = torch.cat([file[f"transformer_blocks.0.attn.to_{p}.weight"] for p in "qkv"])
    torch.testing.assert_close(loaded["double_blocks.0.img_attn.qkv.weight"], qkv.to(loaded["img_in.weight"].dtype))


def test_nodes_and_flux_model_dropdowns_are_registered(server: ComfyServer) -> None:
    info = server.object_info()
    for node_id in ("FaceT5Loader", "FaceT5TextEncodeFlux"):
        spec = PACK_NODES[node_id]
        declared = info[node_id]
        names = {*declared["input"]["required"], *declared["input"].get("optional", {})}
        assert names == {name for name, _ in spec["inputs"]} | set(spec["widgets"])
        assert declared["output"] == [kind for _, kind in spec["outputs"]]
    assert Path(tiny_files.FACET5_ENCODER).name in server.dropdown("FaceT5Loader", "encoder_name")
    assert Path(tiny_files.FLUX_DIT).name in server.dropdown("UNETLoader", "unet_name")
    assert Path(tiny_files.FLUX_VAE).name in server.dropdown("VAELoader", "vae_name")


def _saved(server: ComfyServer, graph: dict, timeout_s: float = 600) -> list[Path]:
    result = server.run(graph, timeout_s=timeout_s)
    assert result.status == "success", (result.error, server.log_text()[-3000:])
    prefix = node(graph, "SaveImage")["inputs"]["filename_prefix"]
    return [p for p in server.output_images(result) if p.name.startswith(prefix)]


def test_flux_workflow_runs_and_saves_an_image(server: ComfyServer) -> None:
    graph = quick(api_workflow(WORKFLOW))
    saved = _saved(server, graph)

    assert len(saved) == 1
    pixels = np.asarray(Image.open(saved[0]))
    assert pixels.shape == (64, 64, 3)
    assert "left over keys" not in server.log_text()  # the dit's every tensor was used


def test_one_prompt_per_line_gives_one_image_per_prompt(server: ComfyServer) -> None:
    """A 2-prompt batch through FluxGuidance, the host's FLUX model (context batch and pooled_output read per
    row) and a latent batch of 2."""
    graph = quick(api_workflow(WORKFLOW))
    positive = node(graph, "FaceT5TextEncodeFlux", face=None)["inputs"]
    positive.update(text="a woman in a cafe\na woman on the moon", one_prompt_per_line=True)
    node(graph, "EmptySD3LatentImage")["inputs"]["batch_size"] = 2
    node(graph, "SaveImage")["inputs"]["filename_prefix"] = "faceclip_flux_batch"

    assert len(_saved(server, graph)) == 2


def test_empty_prompt_lines_are_the_nodes_own_error(server: ComfyServer) -> None:
    graph = quick(api_workflow(WORKFLOW))
    node(graph, "FaceT5TextEncodeFlux", face=None)["inputs"].update(text=" \n", one_prompt_per_line=True)
    result = server.run(graph, timeout_s=600)
    assert result.status == "execution_error" and result.node_type == "FaceT5TextEncodeFlux"
    assert "has no non-empty line" in result.error


def _write_stock_t5xxl(comfy_path: Path, path: Path) -> None:
    """A T5-XXL file as FLUX users have it in models/text_encoders (the host's own T5 module's key names, fp16),
    with the tiny FaceT5's T5 sizes (d_model 4096) and random values."""
    t5_module = import_host_module(comfy_path, "comfy.text_encoders.t5")
    ops = import_host_module(comfy_path, "comfy.ops")
    config = json.loads((comfy_path / "comfy/text_encoders/t5_config_xxl.json").read_text())
    t5 = tiny_facet5_config(d_model=4096).t5
    config.update(d_model=t5.d_model, num_heads=t5.heads, d_ff=t5.d_ff, num_layers=t5.layers)
    with torch.device("meta"):  # names and shapes only
        shapes = {k: tuple(v.shape) for k, v in t5_module.T5(config, torch.float16, "meta", ops.manual_cast).state_dict().items()}
    save_file(random_state_dict(shapes, seed=9), str(path))


@pytest.mark.parametrize("dtype, t5", [("fp8_e4m3fn", None), ("auto", "t5xxl_fp16.safetensors")],
                         ids=["fp8-storage", "t5-from-text_encoders"])
def test_loader_choices_run_in_the_workflow(server: ComfyServer, comfy_path: Path, dtype: str, t5: str | None) -> None:
    """fp8 storage computed through the host's casting layers; the T5 part taken from a models/text_encoders file."""
    graph = quick(api_workflow(WORKFLOW))
    loader = node(graph, "FaceT5Loader")["inputs"]
    loader["dtype"] = dtype
    if t5:
        _write_stock_t5xxl(comfy_path, server.models_dir / "text_encoders" / t5)
        loader["t5"] = t5
    node(graph, "SaveImage")["inputs"]["filename_prefix"] = f"faceclip_flux_{dtype}"

    assert len(_saved(server, graph)) == 1
