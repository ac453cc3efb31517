"""benchmarks/gpu_check.sh at small size on CPU, with the host's SDXL UNet class (skips without COMFYUI_PATH).

Run with the host's Python, which has ComfyUI's requirements: the script builds the host's SDXL model through its
model detection, samples with it and trains ID-EA on it, as it does with full-size weights on a GPU.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from host.fixtures import comfy_path  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_script_runs_small_on_cpu_with_the_hosts_unet(comfy_path):  # noqa: F811
    result = subprocess.run(["bash", "benchmarks/gpu_check.sh", str(comfy_path), "--device", "cpu", "--small"], cwd=ROOT,
                            capture_output=True, text=True, timeout=1200, env={**os.environ, "PYTHON": sys.executable})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1-step 64px SDXL sampling" in result.stdout and "encode share (b)" in result.stdout
    assert "ID-EA training at 64 px, batch 1, on the host's SDXL UNet, fp32" in result.stdout
