"""Training throughput and peak memory: tiny configs of both stages on CPU (1 and 2 processes), and one
full-size stage-1 step (FaceCLIP L+G with ViT-L/ViT-bigG image towers, random weights) on CPU or CUDA.

    python benchmarks/bench_train.py                      # tiny stage 1 (1 and 2 processes) and stage 2, CPU
    python benchmarks/bench_train.py --full --device cuda --batch 16
    python benchmarks/bench_train.py --full --device cpu --batch 2 --branches l   # both branches need ~25 GB of RAM

Tiny runs use the tests' stand-in data (synthetic photos, tiny encoder, tiny SDXL-shaped UNet), each in a
fresh process so peak resident memory is its own; samples/s is measured over the second half of the steps.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def tiny_files(folder: Path, stage2: bool) -> dict[str, Path]:
    from faceclip_core.encoders.sdxl.config import tiny_config
    from faceclip_core.train.prepare import PrepareOptions, prepare
    from tiny_training import StandInAnalyzer, write_models, write_photo_folder, write_tiny_sdxl

    write_photo_folder(folder / "photos", identities=8, per_identity=4)
    prepare(folder / "photos", folder / "data", StandInAnalyzer(),
            PrepareOptions(min_face=64, min_image_side=32, shard_size=4, identity_from_folder=True))
    files = {**write_models(folder / "models"), "data": folder / "data"}
    if stage2:
        files["sdxl"] = write_tiny_sdxl(folder / "sdxl", tiny_config().context_dim, tiny_config().pooled_dim)
    return files


def tiny_config_file(stage: str, files: dict[str, Path], folder: Path, steps: int, batch: int) -> Path:
    from tiny_training import stage1_config, stage2_config

    models = {k: files[k] for k in ("encoder", "image_tower_l", "image_tower_g")}
    if stage == "stage1":
        path = stage1_config(folder / "bench1.toml", files["data"], models, folder / "run1", steps, batch=batch, streams=2)
    else:
        path = stage2_config(folder / "bench2.toml", files["data"], files["encoder"], files["sdxl"], folder / "run2", steps)
        path.write_text(path.read_text().replace("batch_size = 2", f"batch_size = {batch}"))
    text = path.read_text().replace("log_every = 1", f"log_every = {steps // 2}").replace("save_every = 2", f"save_every = {steps}")
    path.write_text(text)
    return path


def child(stage: str, config: Path) -> None:
    """Run one training in this process (rank 0 prints the figures)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from faceclip_core.train.config import Stage1Config, Stage2Config, load_config
    from faceclip_core.train.runs import run_stage1, run_stage2

    cfg = load_config(config, Stage1Config if stage == "stage1" else Stage2Config)
    (run_stage1 if stage == "stage1" else run_stage2)(cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        events = EventAccumulator(str(Path(cfg.run.out) / "tensorboard"))
        events.Reload()
        print(json.dumps({"samples_per_s": events.Scalars("samples/s")[-1].value, "peak_rss_gib": peak_rss_gib()}))


def run_child(stage: str, config: Path, processes: int) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // processes)))}
    launcher = [sys.executable] if processes == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    result = subprocess.run([*launcher, __file__, "--child", stage, "--config", str(config)], env=env,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def tiny(steps: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = tiny_files(folder, stage2=True)
        for stage, processes in (("stage1", 1), ("stage1", 2), ("stage2", 1)):
            (folder / f"{stage}-{processes}").mkdir()
            config = tiny_config_file(stage, files, folder / f"{stage}-{processes}", steps, batch)
            figures = run_child(stage, config, processes)
            print(f"tiny {stage}, {processes} process(es), global batch {batch}: {figures['samples_per_s']:.1f} samples/s, "
                  f"peak RSS {figures['peak_rss_gib']:.2f} GiB (rank 0)")


def full_stage1_step(device: str, batch: int, steps: int, branches: list[str]) -> None:
    """Time full-size stage-1 steps: official architecture, flatten heads, all three terms, on `branches`."""
    from faceclip_core.encoders.sdxl.config import OFFICIAL
    from faceclip_core.encoders.sdxl.model import FaceCLIPEncoder
    from faceclip_core.train.config import LossSection, OptimSection
    from faceclip_core.train.loop import build_optimizer
    from faceclip_core.train.stage1 import Stage1Batch, Stage1Objective
    from faceclip_core.train.vision_tower import VISION_ARCHS, VisionTower

    start = time.perf_counter()
    with torch.device(device):
        encoder = FaceCLIPEncoder(OFFICIAL)
        arch = {"l": "ViT-L-14", "g": "ViT-bigG-14"}
        towers = {name: VisionTower(VISION_ARCHS[arch[name]]).requires_grad_(False) for name in branches}
        objective = Stage1Objective(encoder, towers, branches, LossSection(), gradient_checkpointing=True).train()
    build_s = time.perf_counter() - start
    trainable = sum(p.numel() for p in objective.parameters() if p.requires_grad)
    total = sum(p.numel() for p in objective.parameters())
    optimizer = build_optimizer(objective, OptimSection())
    batch_data = Stage1Batch(
        crops=torch.randint(0, 256, (batch, 3, 448, 448), dtype=torch.uint8),
        images=torch.randint(0, 256, (batch, 3, 224, 224), dtype=torch.uint8),
        captions=[f"a photo of a person number {i} in a garden" for i in range(batch)],
        identity=torch.arange(batch),
    )
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)
    times = []
    for _ in range(steps):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with autocast:
            loss, _ = objective(batch_data)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    step_s = min(times[1:]) if len(times) > 1 else times[0]
    memory = (f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device == "cuda"
              else f"peak RSS {peak_rss_gib():.1f} GiB")
    print(f"full-size stage 1, branches {'+'.join(branches)}, on {device} ({'bf16 autocast' if device == 'cuda' else 'fp32'}, gradient checkpointing), "
          f"batch {batch}: {step_s:.2f} s/step = {batch / step_s:.1f} samples/s, {memory}; "
          f"{trainable / 1e6:.0f}M trainable of {total / 1e6:.0f}M parameters; build {build_s:.0f} s; loss {loss.item():.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="one full-size stage-1 step instead of the tiny runs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--branches", nargs="+", default=["l", "g"], choices=("l", "g"), help="full: branches to train")
    parser.add_argument("--steps", type=int, default=10, help="tiny: steps per run; full: timed steps (the first is warm-up)")
    parser.add_argument("--child", choices=("stage1", "stage2"), help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.config)
    elif args.full:
        full_stage1_step(args.device, args.batch, args.steps, args.branches)
    else:
        tiny(args.steps, args.batch)


if __name__ == "__main__":
    main()
