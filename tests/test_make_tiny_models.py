"""tests/make_tiny_models.py as README runs it: a plain script from any folder, leaving nothing behind on failure."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import make_tiny_models

SCRIPT = Path(make_tiny_models.__file__).resolve()


def test_a_failing_part_removes_what_the_run_wrote(tmp_path, monkeypatch):
    models = tmp_path / "models"
    (models / "vae").mkdir(parents=True)
    (models / "vae" / "mine.safetensors").write_bytes(b"a user's file")

    def broken(models_dir: Path) -> list[Path]:
        (models_dir / "checkpoints").mkdir(parents=True)
        (models_dir / "checkpoints" / "half.safetensors").write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setitem(make_tiny_models.PARTS, "broken", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        make_tiny_models.write_tiny_models(models, ["sdxl_clip", "broken"])
    assert sorted(p.relative_to(models).as_posix() for p in models.rglob("*")) == ["vae", "vae/mine.safetensors"]

    with pytest.raises(RuntimeError):
        make_tiny_models.write_tiny_models(tmp_path / "new", ["broken"])
    assert not (tmp_path / "new").exists()


def test_runs_as_a_script_from_another_folder_without_pythonpath(tmp_path):
    env = {"PATH": "", "HOME": str(tmp_path)}  # no PYTHONPATH: the script finds the checkout itself
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "models"), "--parts", "faceclip"],
                            cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "models" / make_tiny_models.FACECLIP_ENCODER)]
