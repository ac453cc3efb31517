"""The official reference outputs the parity tests compare with: written by the reference scripts, read by the tests."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

REFERENCE = "reference.safetensors"


def save_reference(out: Path, outputs: dict[str, torch.Tensor], cases: dict, weights: str) -> None:
    from safetensors.torch import save_file

    save_file(outputs, str(out / REFERENCE), metadata={"cases": json.dumps(cases)})
    print(f"wrote {out / weights} and {out / REFERENCE}")


def reference_dir(official: str, script: str, reuse_env: str, tmp_path_factory) -> Path:
    """The folder $reuse_env names if it holds a reference already, else a fresh run of tests/parity/`script`."""
    given = os.environ.get(reuse_env)
    if given and (Path(given) / REFERENCE).is_file():
        return Path(given)
    out = Path(given) if given else tmp_path_factory.mktemp("parity")
    subprocess.run([sys.executable, str(Path(__file__).parent / script), official, str(out)], check=True)
    return out


def read_reference(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(cases, tensors) of a reference folder."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(folder / REFERENCE), framework="pt") as f:
        cases = json.loads(f.metadata()["cases"])
    return cases, load_file(str(folder / REFERENCE))
