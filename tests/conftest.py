"""Session-scoped face-analysis fixtures: a real detector pack and real photos, built once per test run.

The tests: support/ (tiny models, fakes, assets, stand-ins; on sys.path from here, so tests, benchmarks and scripts
import them by module name), unit/<area>/ (no host needed), host/ (a real ComfyUI, with COMFYUI_PATH), parity/
(the official FaceCLIP code, with FACECLIP_OFFICIAL_PATH).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "support"))  # tests/support/ is shared by tests, benchmarks and tools

import assets  # noqa: E402


@pytest.fixture(scope="session")
def face_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ComfyUI-style models folder holding insightface/models/antelopev2 (real detector, stand-in recogniser)."""
    models_dir = tmp_path_factory.mktemp("comfyui_models")
    assets.build_face_pack(models_dir)
    return models_dir


@pytest.fixture(scope="session")
def analyzer(face_models_dir: Path):
    from faceclip_core.face import FaceAnalyzer

    return FaceAnalyzer(face_models_dir, providers="cpu")


@pytest.fixture(scope="session")
def photos() -> dict:
    return assets.photos()
