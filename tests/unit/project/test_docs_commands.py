"""README's and docs/'s commands, run exactly as written, in fresh processes, from the folder they say.

A fenced block is marked on the line before it:
    <!-- docs-test: run in pack folder -->   run it (bash: the whole block; python: the snippet) in a
                                             ComfyUI/custom_nodes/comfyui-faceclip copy of this checkout
    <!-- docs-test: skip (REASON) -->        never run (needs weights, the network, or is the suite itself)
Every shell block must carry one of the two, so a new command cannot slip past unclassified. The sandbox
stands in for a user's machine: tiny weights under the file names README uses (ComfyUI/models/faceclip/
face_clip_encoder.pt, the antelopev2 face pack) and two inputs in the pack folder, photo.jpg (a public-domain
portrait) and face.png (a face crop).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"bash", "sh", "shell", "console", ""}
MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<what>run in pack folder|skip \(.+\))\s*-->")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
# leave out of the sandbox's copy what a developer's checkout may hold besides the tracked files
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", "build", "*.egg-info", "tiny-models")


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    code: str
    marker: str | None

    @property
    def name(self) -> str:
        return f"{self.doc}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = MARKER.search(previous)
        blocks.append(Block(str(path.relative_to(ROOT)), index + 1, opening["lang"], "\n".join(lines[index + 1:end]),
                            marker["what"] if marker else None))
        index = end + 1
    return blocks


ALL_BLOCKS = [block for doc in DOCS for block in fenced_blocks(doc)]
RUNNABLE = [block for block in ALL_BLOCKS if block.marker == "run in pack folder"]


def test_every_shell_block_says_whether_it_runs():
    unmarked = [b.name for b in ALL_BLOCKS if b.lang in SHELL and b.marker is None]
    assert not unmarked, f"mark these blocks <!-- docs-test: run in pack folder --> or <!-- docs-test: skip (why) -->: {unmarked}"
    stray = [b.name for b in ALL_BLOCKS if b.marker and b.lang not in SHELL | {"python"}]
    assert not stray, f"docs-test markers only apply to shell and python blocks: {stray}"


def test_the_weight_free_commands_are_among_the_runnable_ones():
    """Help, tiny models, detect on a photo, encode on tiny weights: removing a marker must not go unnoticed."""
    text = "\n".join(block.code for block in RUNNABLE)
    for command in ("python -m faceclip_core --help", "python tests/support/make_tiny_models.py", "python -m faceclip_core detect",
                    "python -m faceclip_core encode", "python -m faceclip_core.idea train --help",
                    "python -m faceclip_core.train prepare --help"):
        assert command in text, command


@pytest.fixture(scope="module")
def pack_folder(tmp_path_factory, photos) -> Path:
    """tmp/ComfyUI/custom_nodes/comfyui-faceclip (a copy of this checkout) beside tmp/ComfyUI/models (tiny weights)."""
    from PIL import Image

    import assets
    from tiny_faceclip import make_tiny_encoder, write_official_pt

    comfy = tmp_path_factory.mktemp("sandbox") / "ComfyUI"
    pack = comfy / "custom_nodes" / "comfyui-faceclip"
    shutil.copytree(ROOT, pack, ignore=NOT_COPIED)
    (comfy / "models" / "faceclip").mkdir(parents=True)
    write_official_pt(make_tiny_encoder(), comfy / "models" / "faceclip" / "face_clip_encoder.pt")
    assets.build_face_pack(comfy / "models")
    Image.fromarray(photos["astronaut"]).save(pack / "photo.jpg", quality=95)
    Image.fromarray(photos["astronaut"]).resize((448, 448)).save(pack / "face.png")
    return pack


@pytest.mark.parametrize("block", RUNNABLE, ids=[block.name for block in RUNNABLE])
def test_documented_command_runs_as_written(block: Block, pack_folder: Path):
    # a user's shell: this venv's python first on PATH, no PYTHONPATH, a home of its own
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "HOME": str(pack_folder.parents[2]), "LANG": "C.UTF-8"}
    command = [sys.executable, "-c", block.code] if block.lang == "python" else ["bash", "-euo", "pipefail", "-c", block.code]
    result = subprocess.run(command, cwd=pack_folder, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{block.name} failed:\n{block.code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
