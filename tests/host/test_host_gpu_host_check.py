"""benchmarks/gpu_host_check.py with the host (COMFYUI_PATH), on the CPU at the tests' sizes: the host's casting
layers and model management, --lowvram streaming and the host's Cancel. Skips without COMFYUI_PATH."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from host.fixtures import comfy_path  # noqa: F401  (fixture)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_host_check.py"


def test_the_small_cpu_run_on_the_host_passes_every_check_streaming_included(comfy_path: Path, tmp_path) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), str(comfy_path), "--device", "cpu", "--small", "--work", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    table = run.stdout.splitlines()
    assert f"ComfyUI at {comfy_path}" in table[0]
    rows = [line for line in table[2:] if line.strip()]
    assert len(rows) == 12 and all(row.endswith(" ok") for row in rows), run.stdout
    assert any("--lowvram: layers streamed" in row and "True" in row for row in rows)
