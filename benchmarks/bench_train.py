"""Training throughput and peak memory: tiny configs of both stages on CPU (1 and 2 processes), and one
full-size stage-1 step (FaceCLIP L+G with ViT-L/ViT-bigG image towers, random weights) on CPU or CUDA.

    python benchmarks/bench_train.py                      # tiny stage 1 (1 and 2 processes) and stage 2, CPU
    python benchmarks/bench_train.py --full --device cuda --batch 16
    python benchmarks/bench_train.py --full --device cpu --batch 2 --branches l   # both branches need ~25 GB of RAM
    python benchmarks/bench_train.py --memory-estimate    # no GPU: GiB per process, both stages and engines, ~2 min

Tiny runs use the tests' stand-in data (synthetic photos, tiny encoder, tiny SDXL-shaped UNet), each in a
fresh process so peak resident memory is its own; samples/s is measured over the second half of the steps.

--memory-estimate: the full-size models are built on fake tensors (shapes, no data, as bench_idea.py does);
parameters are counted and one step's activations measured at 1 and 2 samples (bench_idea's LiveBytes, each
weight gradient dropped once accumulated), then GiB per process = model state + activations for the default
global batch split over 1, 8 and 64 processes. The model state, per parameter:
  ddp:  trainable 20 B (fp32 weight, gradient, DDP's gradient bucket, AdamW's two moments), frozen 4 B.
  fsdp: trainable 16 B / N, frozen units 4 B / N; plus what is gathered at once: the root unit for the whole
        step, and twice the largest other unit (the running one and the prefetched one) with its gradients.
Not counted: the CUDA context and allocator slack (add ~1-2 GiB), the data loader, the frozen VAE's and
encoder's transient activations (no_grad, freed before the UNet runs).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support"), str(ROOT / "benchmarks")]


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


# --- --memory-estimate ------------------------------------------------------------------------------------
GiB = 2**30
PROCESSES = (1, 8, 64)


def params(module: torch.nn.Module, trainable: bool | None = None) -> int:
    return sum(p.numel() for p in module.parameters() if trainable is None or p.requires_grad == trainable)


def measured_step(step: Callable[[int], None], module: torch.nn.Module) -> tuple[float, float]:
    """(bytes per sample, fixed bytes) above the weights of `step(batch)` on fake tensors, from batches of 1 and 2.
    Each gradient is dropped once accumulated: FSDP reduce-scatters it at once, DDP's are counted with the state."""
    from bench_idea import LiveBytes

    for p in module.parameters():
        if p.requires_grad:
            p.register_post_accumulate_grad_hook(lambda p: setattr(p, "grad", None))
    peaks = []
    for batch in (1, 2):
        tracker = LiveBytes()
        tracker.track([*module.parameters(), *module.buffers()])
        weights = tracker.live
        with tracker:
            step(batch)
        peaks.append(tracker.peak - weights)
    return peaks[1] - peaks[0], 2 * peaks[0] - peaks[1]


def stage2_activations(dtype: torch.dtype, autocast: bool) -> tuple[float, float]:
    """A full-size SDXL UNet step at 1024 px (gradient checkpointing as stage 2 sets it): ddp keeps fp32 weights
    under bf16 autocast (whose cache holds bf16 copies of them through the forward), fsdp gathers bf16 ones."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from bench_idea import sdxl_unet

    with FakeTensorMode():
        unet = sdxl_unet(dtype).requires_grad_(True).train()
        unet.enable_gradient_checkpointing()

        def step(batch: int) -> None:
            latents = torch.randn(batch, 4, 128, 128, dtype=dtype)
            context, pooled = torch.randn(batch, 77, 2048, dtype=dtype), torch.randn(batch, 1280, dtype=dtype)
            time_ids = torch.tensor([[1024, 1024, 0, 0, 1024, 1024]] * batch, dtype=dtype)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                predicted = unet(latents, torch.full((batch,), 500), context,
                                 added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}).sample
                loss = torch.nn.functional.mse_loss(predicted.float(), latents.float())
            loss.backward()

        return measured_step(step, unet)


def stage1_objective():
    """The full-size stage-1 objective (FaceCLIP L+G, ViT-L-14 and ViT-bigG-14 image towers, flatten heads)."""
    from faceclip_core.encoders.sdxl.config import OFFICIAL
    from faceclip_core.encoders.sdxl.model import FaceCLIPEncoder
    from faceclip_core.train.config import LossSection
    from faceclip_core.train.stage1 import Stage1Objective
    from faceclip_core.train.vision_tower import VISION_ARCHS, VisionTower

    towers = {name: VisionTower(VISION_ARCHS[arch]).requires_grad_(False) for name, arch in (("l", "ViT-L-14"), ("g", "ViT-bigG-14"))}
    return Stage1Objective(FaceCLIPEncoder(OFFICIAL), towers, ["l", "g"], LossSection(), gradient_checkpointing=True).train()


def stage1_activations() -> tuple[float, float]:
    """A full-size stage-1 step (fp32 weights under bf16 autocast; its shard units gather fp32 too)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from faceclip_core.train.stage1 import Stage1Batch

    with torch.device("meta"):  # its initialisers read values, which fake tensors have not: built on meta, then faked
        objective = stage1_objective()
    with FakeTensorMode(allow_non_fake_inputs=True):
        objective.to_empty(device="cpu")

        def step(batch: int) -> None:
            data = Stage1Batch(torch.zeros(batch, 3, 448, 448, dtype=torch.uint8), torch.zeros(batch, 3, 224, 224, dtype=torch.uint8),
                               [f"a photo of a person number {i} in a garden" for i in range(batch)], torch.arange(batch))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss, _ = objective(data)
            loss.backward()

        return measured_step(step, objective)


def stage2_objective():
    """The full-size stage-2 objective: SDXL UNet (trained), SDXL VAE and the FaceCLIP encoder (frozen); no EMA."""
    from diffusers import AutoencoderKL

    from bench_idea import sdxl_unet
    from faceclip_core.encoders.sdxl.config import OFFICIAL
    from faceclip_core.encoders.sdxl.model import FaceCLIPEncoder
    from faceclip_core.train.config import Stage2Train
    from faceclip_core.train.stage2 import Stage2Objective

    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), latent_channels=4, sample_size=1024,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
    return Stage2Objective(sdxl_unet(torch.float32), vae, FaceCLIPEncoder(OFFICIAL), Stage2Train())


@dataclass
class Footprint:
    """Parameter counts of an objective, split as the engines hold them, and its measured activations (bytes)."""

    trainable: int
    frozen_in_units: int  # frozen parameters FSDP shards (stage 1's towers)
    frozen_whole: int  # frozen parameters outside every unit (stage 2's VAE and encoder), whole in every process
    root_unit: int  # the last unit's own parameters, gathered for the whole step
    largest_unit: int
    gather_bytes: int  # bytes per gathered parameter: 2 for bf16 units, 4 for fp32
    activations: dict[str, tuple[float, float]]  # engine -> (bytes per sample, fixed bytes)

    @classmethod
    def of(cls, objective: torch.nn.Module, gather_bytes: int, activations: dict[str, tuple[float, float]]) -> "Footprint":
        units, taken, owned = objective.shard_units(), set(), []
        for unit in units:  # children first: a unit owns the parameters no earlier unit took
            own = [p for p in unit.parameters() if id(p) not in taken]
            taken |= {id(p) for p in own}
            owned.append(sum(p.numel() for p in own))
        frozen_in_units = sum(p.numel() for p in objective.parameters() if id(p) in taken and not p.requires_grad)
        return cls(params(objective, True), frozen_in_units, params(objective, False) - frozen_in_units, owned[-1],
                   max(owned[:-1]), gather_bytes, activations)

    def bytes_per_process(self, engine: str, processes: int, batch: int) -> float:
        per_sample, fixed = self.activations["fsdp" if engine == "fsdp" and processes > 1 else "ddp"]
        activations = fixed + per_sample * batch
        if engine == "ddp" or processes == 1:  # one process shards nothing (and has no DDP bucket)
            state = self.trainable * (20 if engine == "ddp" and processes > 1 else 16)
            return state + (self.frozen_in_units + self.frozen_whole) * 4 + activations
        sharded = (self.trainable * 16 + self.frozen_in_units * 4) / processes
        # gathered: the root unit all step; two units at a time with their full-size gradients (+ fp32 for the reduce)
        gathered = self.root_unit * self.gather_bytes + 2 * self.largest_unit * (2 * self.gather_bytes + 4)
        return sharded + self.frozen_whole * 4 + gathered + activations


def memory_estimate() -> None:
    """Print GiB per process for both stages and engines at their default global batches on 1, 8 and 64 processes."""
    with torch.device("meta"):
        stage1, stage2 = stage1_objective(), stage2_objective()
    started = time.perf_counter()
    ddp1 = stage1_activations()
    stage2_ddp, stage2_fsdp = stage2_activations(torch.float32, autocast=True), stage2_activations(torch.bfloat16, autocast=False)
    footprints = {
        "stage 1": (512, Footprint.of(stage1, 4, {"ddp": ddp1, "fsdp": ddp1})),
        "stage 2": (64, Footprint.of(stage2, 2, {"ddp": stage2_ddp, "fsdp": stage2_fsdp})),
    }
    print(f"Memory estimate, GiB per process (fake tensors, {time.perf_counter() - started:.0f} s): stage 1 = FaceCLIP L+G "
          f"with ViT-L-14/ViT-bigG-14 image towers ({params(stage1, True) / 1e9:.2f} B trainable of {params(stage1) / 1e9:.2f} B), "
          f"bf16 autocast; stage 2 = SDXL UNet ({params(stage2, True) / 1e9:.2f} B, all trainable) at 1024 px + VAE + "
          f"FaceCLIP encoder frozen ({params(stage2, False) / 1e9:.2f} B); gradient checkpointing on; fsdp gathers the UNet in "
          "bf16 on CUDA; no EMA (stage 2 EMA: + 4 B per UNet parameter, / N under fsdp)")
    for stage, (global_batch, footprint) in footprints.items():
        per_sample, fixed = footprint.activations["ddp"]
        print(f"  {stage}: activations {per_sample / GiB:.2f} GiB per sample + {fixed / GiB:.2f} (ddp)"
              + (f", {footprint.activations['fsdp'][0] / GiB:.2f} + {footprint.activations['fsdp'][1] / GiB:.2f} (fsdp, bf16)"
                 if stage == "stage 2" else ""))
    header = "".join(f"{f'{n} process' + ('es' if n > 1 else ''):>22}" for n in PROCESSES)
    print(f"  {'':36}{header}")
    for stage, (global_batch, footprint) in footprints.items():
        for engine in ("ddp", "fsdp"):
            for label, batch_of in ((f"global batch {global_batch}", lambda n: max(1, global_batch // n)), ("1 sample per process", lambda n: 1)):
                cells = "".join(f"{footprint.bytes_per_process(engine, n, batch_of(n)) / GiB:13.1f} (b {batch_of(n):>3})" for n in PROCESSES)
                print(f"  {f'{stage} {engine}, {label}':36}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="one full-size stage-1 step instead of the tiny runs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--branches", nargs="+", default=["l", "g"], choices=("l", "g"), help="full: branches to train")
    parser.add_argument("--steps", type=int, default=10, help="tiny: steps per run; full: timed steps (the first is warm-up)")
    parser.add_argument("--memory-estimate", action="store_true", help="no GPU: GiB per process of full-size training, "
                        "both stages and engines, 1/8/64 processes (fake tensors)")
    parser.add_argument("--child", choices=("stage1", "stage2"), help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.config)
    elif args.memory_estimate:
        memory_estimate()
    elif args.full:
        full_stage1_step(args.device, args.batch, args.steps, args.branches)
    else:
        tiny(args.steps, args.batch)


if __name__ == "__main__":
    main()
