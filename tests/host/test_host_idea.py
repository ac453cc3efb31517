"""ID-EA in a real ComfyUI: the shipped API workflows, run over HTTP on the tiny SDXL checkpoint.

Skips without COMFYUI_PATH (see tests/host/setup_test_host.sh). Graphs are patched in memory to a few steps at
small sizes; the files in example_workflows/ are what users load. The train test must run before the apply test, which
uses the files it writes (pytest keeps file order).
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import torch

import pytest
from PIL import Image
from safetensors import safe_open

from host.fixtures import comfy_path, comfy_server, copy_workflow_inputs  # noqa: F401  (fixtures)
from host.server import ComfyServer

WORKFLOWS = Path(__file__).resolve().parents[2] / "example_workflows"
NAME = "my_person"  # the workflows' identity name
# Enough steps to pass a save of the training state and the end of a gradient-accumulated batch; small pictures.
TRAIN_SETTINGS = {"steps": 2, "batch_size": 2, "micro_batch": 1, "resolution": 64, "preview_steps": 1}
SAMPLE_SIZE = 64


@pytest.fixture(scope="module")
def idea_server(comfy_server: ComfyServer) -> ComfyServer:
    return copy_workflow_inputs(comfy_server)


def _nodes_of(graph: dict[str, Any], class_type: str) -> list[dict[str, Any]]:
    return [node for node in graph.values() if node["class_type"] == class_type]


def _small_graph(workflow: str) -> dict[str, Any]:
    """The API workflow with one sampling step on a small latent, and a few training steps."""
    graph = json.loads((WORKFLOWS / "api" / workflow).read_text())
    for node in _nodes_of(graph, "EmptyLatentImage"):
        node["inputs"].update(width=SAMPLE_SIZE, height=SAMPLE_SIZE, batch_size=1)
    for node in _nodes_of(graph, "KSampler"):
        node["inputs"].update(steps=1)
    for node in _nodes_of(graph, "IDEATrain"):
        node["inputs"].update(TRAIN_SETTINGS)
    return graph


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    with safe_open(str(path), framework="pt") as f:
        return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}


def _assert_images(server: ComfyServer, result, count: int, prefix: str = "") -> None:
    assert (result.status, result.node_type, result.error) == ("success", "", "")
    images = server.output_images(result, prefix)
    assert len(images) == count and all(Image.open(image).size == (SAMPLE_SIZE, SAMPLE_SIZE) for image in images)


def test_train_workflow_writes_the_embedding_and_the_idea_file(idea_server: ComfyServer) -> None:
    assert "sd_xl_base_1.0.safetensors" in idea_server.dropdown("CheckpointLoaderSimple", "ckpt_name")
    graph = _small_graph("idea_train.json")
    result = idea_server.run(graph, timeout_s=600)

    (train,) = _nodes_of(graph, "IDEATrain")  # one preview per prompt line, made with the files just written
    _assert_images(idea_server, result, len(train["inputs"]["preview_prompts"].splitlines()), "idea_preview")
    embeddings = idea_server.models_dir / "embeddings"
    assert _tensor_shapes(embeddings / f"{NAME}.safetensors") == {"clip_l": (2, 768), "clip_g": (2, 1280)}
    weights = _tensor_shapes(embeddings / f"{NAME}.idea.safetensors")
    assert any(key.startswith("adapter.") for key in weights) and any(key.startswith("enhancer.") for key in weights)
    assert (idea_server.output_dir / "idea_training" / f"{NAME}.state.pt").is_file()
    log = idea_server.log_text()
    assert "unet missing" not in log and "clip missing" not in log and f"embedding:{NAME} does not exist" not in log


def test_apply_workflow_uses_the_trained_files(idea_server: ComfyServer) -> None:
    if not (idea_server.models_dir / "embeddings" / f"{NAME}.idea.safetensors").is_file():
        pytest.skip("needs the files of test_train_workflow_writes_the_embedding_and_the_idea_file")
    assert f"{NAME}.idea.safetensors" in idea_server.dropdown("IDEALoader", "idea_file")

    _assert_images(idea_server, idea_server.run(_small_graph("idea_apply.json"), timeout_s=300), 1)
    log = idea_server.log_text()  # the host loaded our embedding file for `embedding:my_person`, at both widths
    assert f"embedding:{NAME} does not exist" not in log and "error loading embedding" not in log and "shape mismatch" not in log


def test_training_on_one_photo_fails_with_the_nodes_message(idea_server: ComfyServer) -> None:
    graph = _small_graph("idea_train.json")
    (train,) = _nodes_of(graph, "IDEATrain")
    (batch,) = _nodes_of(graph, "ImageBatch")
    train["inputs"]["images"] = batch["inputs"]["image1"]  # one LoadImage instead of the batch of two

    result = idea_server.run(graph, timeout_s=300)

    assert (result.status, result.node_type) == ("execution_error", "IDEATrain")
    assert "at least 2 photos" in result.error


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not reached in {timeout_s:.0f}s"
        time.sleep(0.2)


def test_cancel_ends_as_interrupted_keeps_the_state_and_the_next_run_resumes(idea_server: ComfyServer) -> None:
    graph = _small_graph("idea_train.json")
    (train,) = _nodes_of(graph, "IDEATrain")
    train["inputs"].update(name="cancelled_person", steps=10_000, batch_size=1, preview_steps=0)
    state = idea_server.output_dir / "idea_training" / "cancelled_person.state.pt"

    prompt_id = idea_server.queue(graph)
    # the console bar shows a loss once the first step is done
    _wait_for(lambda: re.search(r"ID-EA Train cancelled_person:.*loss=", idea_server.log_text()), timeout_s=300)
    idea_server.interrupt()
    result = idea_server.wait(prompt_id, timeout_s=120)

    assert (result.status, result.node_type) == ("interrupted", "IDEATrain")
    stopped_at = torch.load(state, weights_only=True)["step"]
    assert 0 < stopped_at < 10_000
    assert f"Training stopped at step {stopped_at} of 10000" in idea_server.log_text()
    assert not (idea_server.models_dir / "embeddings" / "cancelled_person.safetensors").exists()

    train["inputs"]["steps"] = stopped_at + 1  # the same settings otherwise: one more step from where it stopped
    resumed = idea_server.run(graph, timeout_s=300)
    assert (resumed.status, resumed.error) == ("success", "")
    assert torch.load(state, weights_only=True)["step"] == stopped_at + 1
    assert (idea_server.models_dir / "embeddings" / "cancelled_person.safetensors").is_file()
