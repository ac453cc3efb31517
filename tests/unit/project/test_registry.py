"""The Comfy registry's own check of pyproject.toml (comfy-cli's `comfy node validate`), clean, no warning.

Skips without comfy-cli (not a project requirement: `pip install comfy-cli` in any venv, then put its `comfy` on
PATH or name it in COMFY_CLI).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OLDEST_FRONTEND = "1.27.10"  # ComfyUI 0.3.64's, the oldest host supported (tests/host/test_host_browser.py runs on it)


def _comfy_cli() -> str:
    command = os.environ.get("COMFY_CLI") or shutil.which("comfy")
    if not command:
        pytest.skip("comfy-cli is not installed (pip install comfy-cli; or COMFY_CLI=/path/to/comfy)")
    return command


def test_comfy_node_validate_passes_without_a_warning():
    result = subprocess.run([_comfy_cli(), "--skip-prompt", "--no-enable-telemetry", "node", "validate"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "All validation checks passed" in output and not re.search(r"warning|error", output, re.I), output


def test_the_registry_reads_the_hosts_and_frontends_tested():
    """comfy-cli takes the ComfyUI range from [tool.comfy] requires-comfyui and the frontend range from a
    comfyui-frontend-package entry in [project] dependencies (dropped from the published dependencies)."""
    sys.path.insert(0, str(ROOT))
    from nodes.host import MIN_COMFYUI

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["comfy"]["requires-comfyui"] == ">=" + ".".join(map(str, MIN_COMFYUI))
    frontend = [dep for dep in project["project"]["dependencies"] if dep.startswith("comfyui-frontend-package")]
    assert frontend == [f"comfyui-frontend-package>={OLDEST_FRONTEND}"]


def test_metadata_the_registry_shows():
    text = (ROOT / "pyproject.toml").read_text()
    name = re.search(r'^name = "(.+)"$', text, re.M).group(1)
    assert "comfyui" not in name.lower()  # the registry asks for node ids without it
    icon = re.search(r'^Icon = "(.+)"$', text, re.M).group(1)
    assert (ROOT / icon.split("/main/", 1)[1]).is_file()  # the URL names a file of this repository
    for classifier in ("Operating System :: OS Independent", "Environment :: GPU :: NVIDIA CUDA"):
        assert f'"{classifier}"' in text
