"""pytest fixtures for tests that run a real ComfyUI. Import the ones a test module uses:

    from host.fixtures import comfy_path, comfy_server  # noqa: F401  (pytest finds fixtures by name)

Every such test skips, with the reason, when COMFYUI_PATH does not point to a ComfyUI checkout.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from make_tiny_models import write_tiny_models
from host.server import ComfyServer, start_comfy_server


@pytest.fixture(scope="session")
def comfy_path() -> Path:
    """The ComfyUI checkout named by COMFYUI_PATH (set up with tests/host/setup_test_host.sh)."""
    value = os.environ.get("COMFYUI_PATH", "")
    if not value:
        pytest.skip("COMFYUI_PATH is not set: real-host tests need a ComfyUI checkout")
    path = Path(value).resolve()
    if not (path / "main.py").is_file():
        pytest.skip(f"COMFYUI_PATH={value} is not a ComfyUI checkout (no main.py)")
    return path


@pytest.fixture(scope="session")
def comfy_server(comfy_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    """One headless CPU host for the whole session, this pack installed, every tiny model of
    tests/support/make_tiny_models.py in its models folder (file names: that script's constants)."""
    base_dir = tmp_path_factory.mktemp("comfy-host")
    write_tiny_models(base_dir / "models")
    with start_comfy_server(comfy_path, base_dir) as server:
        yield server


def copy_workflow_inputs(server: ComfyServer) -> ComfyServer:
    """The host with example_workflows/input/* in its input folder, where the workflows' Load Image nodes look."""
    server.input_dir.mkdir(parents=True, exist_ok=True)
    for path in (Path(__file__).resolve().parents[2] / "example_workflows" / "input").iterdir():
        shutil.copy(path, server.input_dir / path.name)
    return server
