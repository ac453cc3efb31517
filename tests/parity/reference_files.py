"""The official reference outputs the parity tests compare with: written by the reference scripts, read by the tests."""
from __future__ import annotations

import argparse
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


def parse_args(description: str) -> argparse.Namespace:
    """The reference scripts' command line: CHECKOUT OUT [--seed N]; OUT is created."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkout", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def parity_fixtures(script: str, reuse_env: str):
    """(reference_dir, reference) module fixtures for a parity test whose official outputs come from `script`."""
    import pytest

    @pytest.fixture(scope="module")
    def reference_dir(tmp_path_factory) -> Path:
        return run_reference(os.environ["FACECLIP_OFFICIAL_PATH"], script, reuse_env, tmp_path_factory)

    @pytest.fixture(scope="module")
    def reference(reference_dir):
        return read_reference(reference_dir)

    return reference_dir, reference


def run_reference(official: str, script: str, reuse_env: str, tmp_path_factory) -> Path:
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
