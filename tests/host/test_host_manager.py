"""A ComfyUI-Manager install, as a new user makes it: `cm-cli install <git url>` into a ComfyUI whose Python holds
only ComfyUI's requirements and comfyui-manager. The pack must register every node and run `faceclip_portrait`
with the template's model files placed and nothing else installed (no onnxruntime: face analysis runs in torch).

Offline: the project (its committed HEAD) is served by git's dumb HTTP protocol (`git update-server-info` and
Python's http.server) from 127.0.0.1; the Manager's `pip install -r requirements.txt` uses the configured package
index. The ComfyUI checkout is copied, so the Manager installs into the copy.

Skips, with the reason, without COMFYUI_PATH, or without FACECLIP_MANAGER_PYTHON naming that Python with
comfyui-manager installed (make it with `tests/host/setup_test_host.sh --manager COMFYUI_CHECKOUT VENV_DIR`).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from host.fixtures import comfy_path  # noqa: F401  (fixture)
from host.graphs import api_workflow, quick
from host.server import PACK_DIR, PACK_NAME, free_port, start_comfy_server
from make_tiny_models import write_tiny_models
from workflow_format import PACK_NODES

# faceclip_portrait's files: its UNet, VAE, FaceCLIP encoder and face pack
# the files faceclip_portrait names: no face pack, as its face is found by the built-in detector
PORTRAIT_PARTS = ("sdxl_unet", "sdxl_vae", "faceclip")
NOT_INSTALLED = ("onnxruntime", "onnx", "insightface")  # what face analysis needed before its torch runtime


def _importable(python: str, module: str) -> bool:
    found = subprocess.run([python, "-c", f"import importlib.util as u; raise SystemExit(u.find_spec({module!r}) is None)"],
                           capture_output=True, timeout=120)
    return found.returncode == 0


@pytest.fixture(scope="module")
def manager_python() -> str:
    value = os.environ.get("FACECLIP_MANAGER_PYTHON", "")
    if not value:
        pytest.skip("FACECLIP_MANAGER_PYTHON is not set: the Manager test needs a Python with ComfyUI's requirements "
                    "and comfyui-manager (tests/host/setup_test_host.sh --manager COMFYUI_CHECKOUT VENV_DIR)")
    if not _importable(value, "cm_cli"):
        pytest.skip(f"comfyui-manager is not installed in {value} (pip install comfyui-manager)")
    return value


@pytest.fixture(scope="module")
def served_repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The project's committed HEAD as a bare repository on git's dumb HTTP protocol: its git URL."""
    root = tmp_path_factory.mktemp("served")
    bare = root / f"{PACK_NAME}.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(PACK_DIR), str(bare)], check=True, timeout=300)
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True, timeout=60)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}/{PACK_NAME}.git"
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_manager_install_registers_every_node_and_runs_faceclip_portrait(comfy_path, manager_python, served_repository,
                                                                         tmp_path):
    for module in NOT_INSTALLED:
        assert not _importable(manager_python, module), f"{manager_python} is not a new user's Python: it has {module}"
    comfy = tmp_path / "ComfyUI"
    shutil.copytree(comfy_path, comfy, ignore=shutil.ignore_patterns(".git", "__pycache__"), symlinks=True)
    cm_cli = Path(manager_python).parent / "cm-cli"
    env = {**os.environ, "COMFYUI_PATH": str(comfy), "HOME": str(tmp_path / "home")}
    installed = subprocess.run([str(cm_cli), "install", served_repository, "--mode", "local", "--exit-on-fail"],
                               capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    log = installed.stdout + installed.stderr
    pack = comfy / "custom_nodes" / PACK_NAME
    assert installed.returncode == 0 and (pack / "__init__.py").is_file(), log[-4000:]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=pack, capture_output=True, text=True, check=True).stdout
    assert head == subprocess.run(["git", "rev-parse", "HEAD"], cwd=PACK_DIR, capture_output=True, text=True).stdout
    for module in NOT_INSTALLED:  # the pack's requirements pulled none of them in
        assert not _importable(manager_python, module), f"installing the pack added {module}"

    write_tiny_models(comfy / "models", PORTRAIT_PARTS)
    (comfy / "input").mkdir(exist_ok=True)
    for path in (PACK_DIR / "example_workflows" / "input").iterdir():
        shutil.copy(path, comfy / "input" / path.name)
    with start_comfy_server(comfy, comfy, python=manager_python) as server:
        info = server.object_info()
        assert set(PACK_NODES) <= set(info), (sorted(set(PACK_NODES) - set(info)), server.log_text()[-3000:])
        result = server.run(quick(api_workflow("faceclip_portrait")), timeout_s=600)
        assert result.status == "success", (result.error, server.log_text()[-3000:])
        [saved] = server.output_images(result, "faceclip")
        assert np.asarray(Image.open(saved)).shape == (64, 64, 3)
    loaders = [node for node in api_workflow("faceclip_portrait").values() if node["class_type"] == "FaceCLIPInsightFaceLoader"]
    assert [node["inputs"]["pack"] for node in loaders] == ["yunet"]  # the built-in detector: no face pack placed
