"""tests/support/make_tiny_models.py leaves nothing behind when a part fails (README's command itself: tests/unit/project/test_docs_commands.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

import make_tiny_models


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
