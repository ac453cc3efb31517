"""The FaceCLIP workflows in a real ComfyUI (headless, CPU, tiny models under the workflows' file names).

Skips unless COMFYUI_PATH points to a ComfyUI checkout (see tests/host/setup_test_host.sh). Each
workflow runs as shipped except for image size and step count, cut so a CPU run takes seconds.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import assets
from host.fixtures import comfy_path, comfy_server  # noqa: F401  (fixtures)
from host.graphs import api_workflow as api, quick
from host.server import ComfyServer
from workflow_format import FACECLIP_WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]
PACK_NODES = ("FaceCLIPLoader", "FaceCLIPTextEncodeSDXL", "FaceCLIPInsightFaceLoader", "FaceCLIPDetectFace", "FaceIDSimilarity")


@pytest.fixture(scope="module")
def server(comfy_server: ComfyServer) -> ComfyServer:
    for path in (ROOT / "example_workflows" / "input").iterdir():
        shutil.copy(path, comfy_server.input_dir / path.name)
    Image.fromarray(assets.coffee()).save(comfy_server.input_dir / "no_face.png")
    return comfy_server


def test_nodes_and_model_dropdowns_are_registered(server):
    info = server.object_info()
    assert set(PACK_NODES) <= set(info)
    assert "face_clip_encoder.pt" in server.dropdown("FaceCLIPLoader", "encoder_name")
    assert "antelopev2" in server.dropdown("FaceCLIPInsightFaceLoader", "pack")
    assert "faceclip_unet.pt" in server.dropdown("UNETLoader", "unet_name")


@pytest.mark.parametrize("name", sorted(FACECLIP_WORKFLOWS))  # ID-EA's: test_host_idea.py
def test_workflow_runs_and_saves_images(server, name):
    graph = api(name)
    result = server.run(quick(graph), timeout_s=300)
    assert result.status == "success", (result.error, server.log_text()[-3000:])
    images = server.output_images(result)
    batch = next(n["inputs"]["batch_size"] for n in graph.values() if n["class_type"] == "EmptyLatentImage")
    saved = [p for p in images if p.name.startswith(next(n["inputs"]["filename_prefix"] for n in graph.values() if n["class_type"] == "SaveImage"))]
    assert len(saved) == batch
    assert all(np.asarray(Image.open(p)).shape == (64, 64, 3) for p in saved)
    if name == "faceclip_id_similarity":
        summary = next(out for out in result.outputs.values() if "text" in out)["text"][0]
        assert "ID-Sim mean over" in summary and "image 1:" in summary


def test_a_reference_photo_without_a_face_is_the_nodes_own_error(server):
    graph = quick(api("faceclip_portrait"))
    next(n for n in graph.values() if n["class_type"] == "LoadImage")["inputs"]["image"] = "no_face.png"
    result = server.run(graph, timeout_s=300)
    assert result.status == "execution_error"
    assert result.node_type == "FaceCLIPDetectFace"
    assert "No face found in image 0 of the batch of 1" in result.error


def test_empty_prompt_lines_are_the_nodes_own_error(server):
    graph = quick(api("faceclip_portrait"))
    encode = next(n for n in graph.values() if n["class_type"] == "FaceCLIPTextEncodeSDXL" and "face" in n["inputs"])
    encode["inputs"]["text"] = ""
    encode["inputs"]["one_prompt_per_line"] = True
    result = server.run(graph, timeout_s=300)
    assert result.status == "execution_error" and result.node_type == "FaceCLIPTextEncodeSDXL"
    assert "has no non-empty line" in result.error
