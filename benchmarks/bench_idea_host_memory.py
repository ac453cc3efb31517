"""RAM that ID-EA Train's preparation of the host's UNet costs, per host kind, as peak RSS (Linux).

A UNet-sized stand-in (a stack of Linear layers holding --mib MiB of fp32 weights) goes through what the node does
(nodes/training_clones.py, then frozen_for_autograd) and one training step's forward and backward to its input, with
the host stand-ins of tests/support/newer_host.py. Each case runs in its own process, so one's memory does not hide another's.

- 0.3.64: plain clone, sharing the model the loader built in inference mode: its weights are copied for autograd,
  one tensor at a time, each original freed as its copy replaces it.
- The same copy where the host also holds the originals, as the newest host's dynamic patcher does (it backs up
  each weight it casts): what copying the dynamic MODEL would cost; the copies come on top.
- 0.38.x: clone(disable_dynamic=True) of a dynamic model: the host builds the model again (here outside inference
  mode, as the node calls it), so nothing is copied; the rebuilt model is the host's second one.

    python benchmarks/bench_idea_host_memory.py [--mib 256]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

CASES = {
    "legacy": "0.3.64: plain clone, inference-mode weights copied",
    "legacy-held": "copy while the host holds the originals (dynamic patcher)",
    "dynamic": "0.38.x: clone(disable_dynamic=True), nothing copied",
}
WIDTH = 1024
MiB = 2**20


def rss(field: str = "VmRSS") -> int:
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field))


def stand_in_unet(mib: int) -> torch.nn.Module:
    layers = max(1, mib * MiB // (WIDTH * WIDTH * 4))
    return torch.nn.Sequential(*(torch.nn.Linear(WIDTH, WIDTH) for _ in range(layers)))


def run_case(case: str, mib: int) -> None:
    """Prints: weights, peak RSS above the built model during preparation and the step, RSS above it after."""
    from newer_host import DynamicPatcher, LegacyPatcher
    from nodes.idea_logic import frozen_for_autograd
    from nodes.training_clones import training_model

    torch.set_num_threads(1)
    x = torch.randn(4, WIDTH)
    with torch.inference_mode():  # as the host's loader node builds MODEL
        model = stand_in_unet(mib)
    held = [p for p in model.parameters()] if case == "legacy-held" else []  # printed below: alive to the end
    weights = sum(p.nbytes for p in model.parameters())
    patcher = DynamicPatcher(model, reload=lambda: stand_in_unet(mib)) if case == "dynamic" else LegacyPatcher(model)
    base = rss()
    Path("/proc/self/clear_refs").write_text("5")  # resets the high-water mark VmHWM to the current RSS
    with torch.inference_mode(False), torch.enable_grad():  # as train_identity
        clone = training_model(patcher)
        copied = frozen_for_autograd(clone.model)
        x.requires_grad_()
        clone.model(x).square().mean().backward()
    print(f"{weights / MiB:.0f} {copied / MiB:.0f} {(rss('VmHWM') - base) / MiB:.0f} {(rss() - base) / MiB:.0f} {len(held)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="size of the stand-in UNet's weights")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)  # one case, in a child process
    args = parser.parse_args()
    if args.case:
        run_case(args.case, args.mib)
        return
    print(f"ID-EA Train's preparation of a {args.mib} MiB stand-in UNet (fp32), MiB; peak and after are RSS above "
          "the host's built model")
    print(f"  {'host':58}{'weights':>9}{'copied':>8}{'peak':>7}{'after':>7}")
    for case, label in CASES.items():
        out = subprocess.run([sys.executable, __file__, "--case", case, "--mib", str(args.mib)], check=True,
                             capture_output=True, text=True).stdout.split()
        weights, copied, peak, after, _ = out
        print(f"  {label:58}{weights:>9}{copied:>8}{peak:>7}{after:>7}")


if __name__ == "__main__":
    main()
