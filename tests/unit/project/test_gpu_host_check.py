"""benchmarks/gpu_host_check.py in CI's form (--device cpu --small, no host), so the GPU script cannot rot: every
check runs and passes; no timing is asserted. With a host: tests/test_host_gpu_check.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from idea_stand_ins import single_thread  # noqa: F401  (fixture)

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

from gpu_host_check import main  # noqa: E402

CHECKS = ("FaceCLIP-SDXL cpu bf16 vs CPU fp32 context", "FaceCLIP-SDXL cpu bf16 vs CPU fp32 pooled",
          "FaceT5 cpu bf16 vs CPU fp32 context", "FaceT5 cpu bf16 vs CPU fp32 pooled",
          "ID-EA step loss cpu vs CPU", "ID-EA tokens_l gradient cpu vs CPU", "ID-EA tokens_g gradient cpu vs CPU",
          "ID-EA Cancel inside a layer mid-step", "ID-EA resumed run = uninterrupted run")


@pytest.mark.usefixtures("single_thread")
def test_the_small_cpu_run_without_a_host_passes_every_check_and_skips_the_host_ones(tmp_path, capsys):
    assert main(["--device", "cpu", "--small", "--work", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    lines = {line.split("  ")[1].strip(): line for line in table.splitlines()[2:]}
    for check in CHECKS:
        assert lines[check].endswith("ok"), table
    assert lines["FaceCLIP-SDXL --lowvram streaming"].endswith("skipped"), table
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face_clip_encoder.pt", "face_t5_encoder.pt", "gpu_check.state.pt"]
