"""Smoke runs of the benchmarks at tiny size, so they cannot rot (no timing is asserted), and the load guard."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))


def run(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_sdxl_encoder_benchmark_runs_all_three_patterns():
    out = run("benchmarks/bench_encoder.py", "--tiny", "--dtypes", "fp32", "--repeats", "1")
    assert "machine load before:" in out and "machine load after:" in out
    header, row = [line for line in out.splitlines() if line.startswith(("dtype ", "fp32 "))]
    assert "(c)prompts only_s" in header
    cells = row.split()
    assert cells[-3] == "yes"  # (c) equals the uncached path bit for bit
    assert float(cells[7]) < 1e-5  # max|a-b|: the batched rows are the per-call rows


def test_facet5_encoder_benchmark_runs_ours_against_the_per_call_pattern():
    out = run("benchmarks/bench_encoder.py", "--model", "facet5", "--tiny", "--repeats", "1")
    lines = out.splitlines()
    row = lines[lines.index(next(line for line in lines if line.strip().startswith("official code (a)"))) + 1]
    assert row.split()[-1] == "yes"
    assert any(line.startswith("(2) test size") for line in lines)


def test_no_ratio_is_printed_on_a_busy_machine(monkeypatch, capsys):
    import bench_encoder

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    quiet = bench_encoder.LoadWatch()
    monkeypatch.setattr(os, "getloadavg", lambda: (5.5, 3.0, 1.0))  # others' 3.5 above the cores during the run
    assert not quiet.finish()
    assert quiet.ratio(1.0, 2.0) == "busy"
    assert "CONTENDED" in capsys.readouterr().out

    monkeypatch.setattr(os, "getloadavg", lambda: (0.4, 1.0, 1.0))
    watch = bench_encoder.LoadWatch()
    monkeypatch.setattr(os, "getloadavg", lambda: (2.5, 1.0, 1.0))  # mostly this benchmark's own threads
    monkeypatch.setattr(bench_encoder.torch, "get_num_threads", lambda: 2)
    assert watch.finish()
    assert watch.ratio(1.0, 2.0) == "0.50" and watch.ratio(1.0, None) == "-"

    monkeypatch.setattr(os, "getloadavg", lambda: (7.0, 1.0, 1.0))
    assert not bench_encoder.LoadWatch().finish()  # busy before it starts


def test_gpu_check_numbers_run_at_small_size_on_cpu():
    """benchmarks/gpu_perf.py (what gpu_check.sh runs on a GPU) at tiny sizes, without a host: nothing rots."""
    out = run("benchmarks/gpu_perf.py", "--device", "cpu", "--small")
    assert "FaceCLIP fp32: load" in out and "(c) bit-identical to uncached: yes" in out
    assert "FaceT5 fp8_e4m3fn storage, float32 compute" in out
    assert "ID-EA training at 64 px, batch 1, on the tests' tiny stand-ins" in out
