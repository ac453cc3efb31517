"""ID-EA training speed: seconds per step and peak memory at batch 1.

CPU: the tiny SDXL-shaped stand-ins of the tests (plumbing cost only). CUDA (when a GPU exists): the real-size
ID-EA modules with a full-size random SDXL UNet from diffusers (pip install diffusers; not a project dependency),
checkpointed as the ComfyUI node does. Prints a default run's time (320 steps x batch 8) next to plain textual
inversion's usual 3000 steps x batch 1.

--memory-estimate (no GPU needed, diffusers needed): a full-size SDXL training step's memory with and without
gradient checkpointing, counted on fake tensors (shapes only, no compute); the count checked against a real CPU
run of a small UNet; and checkpointing's time cost measured with real compute on CPU.

    python benchmarks/bench_idea.py [--steps 10]
    python benchmarks/bench_idea.py --memory-estimate [--time-resolution 512] [--time-steps 2]  # ~10 min on 2 cores
"""
from __future__ import annotations

import argparse
import ctypes
import resource
import sys
import time
import weakref
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

from faceclip_core.idea import AnchorBank, IDEAConfig, IDEATrainer, TrainConfig, load_names, prepare_training_set  # noqa: E402
from faceclip_core.idea.adapter import IDAdapter  # noqa: E402
from faceclip_core.idea.gradient_checkpointing import gradient_checkpointing  # noqa: E402
from faceclip_core.idea.enhancer import IDEnhancer  # noqa: E402

IDEA_STEPS, IDEA_BATCH = 320, 8
TI_STEPS, TI_BATCH = 3000, 1  # plain textual inversion's usual budget (diffusers' example script)


def time_steps(trainer: IDEATrainer, steps: int, sync=lambda: None) -> float:
    trainer.step(trainer.sample_batch())  # warm-up
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(trainer.sample_batch())
    sync()
    return (time.perf_counter() - start) / steps


def report(label: str, seconds: float, peak_mib: float) -> None:
    print(f"{label}: {seconds:.4f} s/step at batch 1, peak memory {peak_mib:.0f} MiB")
    print(f"  ID-EA default ({IDEA_STEPS} steps x batch {IDEA_BATCH}): ~{seconds * IDEA_STEPS * IDEA_BATCH / 60:.1f} min; "
          f"plain TI ({TI_STEPS} steps x batch {TI_BATCH}): ~{seconds * TI_STEPS * TI_BATCH / 60:.1f} min")


def bench_cpu(steps: int) -> None:
    from idea_stand_ins import TINY_CONFIG, ColourFaceEmbedder, make_models, make_photos

    encoder, unet, vae = make_models()
    for module in (encoder, unet, vae):
        module.requires_grad_(False)
    settings = TrainConfig(batch_size=1, micro_batch=1, resolution=64)
    data = prepare_training_set(make_photos(3, 64), ColourFaceEmbedder(), vae, settings.resolution)
    trainer = IDEATrainer(encoder, unet, AnchorBank.from_names(load_names(), encoder), data, TINY_CONFIG, settings)
    seconds = time_steps(trainer, steps)
    report(f"CPU, tiny stand-ins ({torch.get_num_threads()} threads)", seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


# diffusers' config of SDXL base's UNet (2.57 B parameters)
SDXL_UNET = dict(
    sample_size=128, cross_attention_dim=2048, block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), use_linear_projection=True,
    addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
)
GiB, MiB = 2**30, 2**20


def sdxl_unet(dtype: torch.dtype = torch.float16, **overrides: Any) -> torch.nn.Module:
    """A frozen SDXL-layout UNet with random weights, on the current default device (or fake, inside FakeTensorMode)."""
    from diffusers import UNet2DConditionModel

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in its dtype: .to() cannot convert fake parameters (it swaps tensors)
    try:
        return UNet2DConditionModel(**{**SDXL_UNET, **overrides}).requires_grad_(False)
    finally:
        torch.set_default_dtype(previous)


def unet_layers(unet: torch.nn.Module) -> list[torch.nn.Module]:
    """The diffusers counterparts of what the node checkpoints (every layer of ComfyUI's input, middle and output
    blocks): conv_in, then each block's resnets, attentions (Transformer2DModel), down- and upsamplers. 33 for SDXL."""
    blocks = (*unet.down_blocks, unet.mid_block, *unet.up_blocks)
    kinds = ("resnets", "attentions", "downsamplers", "upsamplers")
    return [unet.conv_in] + [layer for block in blocks for kind in kinds for layer in getattr(block, kind, None) or ()]


def checkpointed(unet: torch.nn.Module, on: bool) -> AbstractContextManager:
    return gradient_checkpointing(unet_layers(unet)) if on else nullcontext()


class DiffusersSDXLDenoiser:
    """A full-size SDXL UNet (random weights) behind the Denoiser interface, in fp16. Checkpoint it with
    checkpointed(denoiser.unet, True), as the node does, not with diffusers' own enable_gradient_checkpointing."""

    def __init__(self, device: str):
        with torch.device(device):
            self.unet = sdxl_unet()

    def __call__(self, x_t, t, context, pooled):
        time_ids = torch.tensor([[1024, 1024, 0, 0, 1024, 1024]], device=x_t.device, dtype=torch.float16).expand(len(x_t), -1)
        return self.unet(x_t.half(), t, context.half(), added_cond_kwargs={"text_embeds": pooled.half(), "time_ids": time_ids}).sample.float()


def bench_cuda(steps: int) -> None:
    from idea_stand_ins import ColourFaceEmbedder, TinyPromptEncoder, make_photos

    device = "cuda"
    encoder = TinyPromptEncoder(768, 1280).to(device).requires_grad_(False)  # text encoders are a small share of a step
    settings = TrainConfig(batch_size=1, micro_batch=1, resolution=1024)
    data = prepare_training_set(make_photos(2, 64), ColourFaceEmbedder(), lambda x: torch.randn(len(x), 4, 128, 128), 64)
    torch.cuda.reset_peak_memory_stats()
    denoiser = DiffusersSDXLDenoiser(device)
    trainer = IDEATrainer(encoder, denoiser, AnchorBank.from_names(load_names(), encoder), data, IDEAConfig(), settings, device)
    with checkpointed(denoiser.unet, True):
        seconds = time_steps(trainer, steps, torch.cuda.synchronize)
    report(f"CUDA {torch.cuda.get_device_name()}, full-size SDXL UNet fp16, 1024 px", seconds, torch.cuda.max_memory_allocated() / 2**20)


# --- --memory-estimate ------------------------------------------------------------------------------
class LiveBytes(TorchDispatchMode):
    """Bytes of tensor storage alive, and their peak: each storage counted once, from the op that returns it
    (or track()) until it is freed. Works on fake tensors, whose storages have sizes but no data."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self._seen: WeakIdKeyDictionary = WeakIdKeyDictionary()

    def track(self, tensors: Iterable[torch.Tensor]) -> None:
        for tensor in tensors:
            storage = tensor.untyped_storage()
            if storage in self._seen:  # a view, or an op that returned its input
                continue
            self._seen[storage] = size = storage.nbytes()
            weakref.finalize(storage, self._free, size)
            self.live += size
            self.peak = max(self.peak, self.live)

    def _free(self, size: int) -> None:
        self.live -= size

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.track(t for t in tree_leaves(out) if isinstance(t, torch.Tensor))
        return out


def unet_step(unet: torch.nn.Module, latent_size: int, after_forward: Callable[[], None] = lambda: None) -> None:
    """One training step's UNet work at batch 1: forward, MSE, backward to the text context and pooled embedding
    (as the trainer's, whose tokens feed both); no weight gradients."""
    dtype = unet.dtype
    latents = torch.randn(1, 4, latent_size, latent_size, dtype=dtype)
    context = torch.randn(1, 77, 2048, dtype=dtype, requires_grad=True)
    pooled = torch.randn(1, 1280, dtype=dtype, requires_grad=True)
    time_ids = torch.tensor([[1024, 1024, 0, 0, 1024, 1024]], dtype=dtype)
    predicted = unet(latents, torch.tensor([500]), context, added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}).sample
    loss = F.mse_loss(predicted.float(), latents.float())
    after_forward()
    loss.backward()


def step_memory(unet: torch.nn.Module, latent_size: int, checkpointing: bool) -> tuple[int, int, int]:
    """(weights, live at the end of the forward pass, peak) in bytes for one unet_step."""
    tracker = LiveBytes()
    tracker.track([*unet.parameters(), *unet.buffers()])
    weights, forward_end = tracker.live, []
    with checkpointed(unet, checkpointing), tracker:
        unet_step(unet, latent_size, lambda: forward_end.append(tracker.live))
    return weights, forward_end[0], tracker.peak


def real_step_bytes(unet: torch.nn.Module, latent_size: int, checkpointing: bool) -> int:
    """Resident memory a real CPU unet_step adds at its peak (Linux, glibc): the process's high-water mark."""
    def status(field: str) -> int:
        return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field))

    ctypes.CDLL(None).mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD: big blocks are mmapped, given back to the OS when freed
    with checkpointed(unet, checkpointing):
        unet_step(unet, latent_size)  # warm-up: one-off allocations (oneDNN primitives, thread pools)
        before = status("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # resets the high-water mark VmHWM to the current RSS
        unet_step(unet, latent_size)
    return status("VmHWM") - before


def bench_memory() -> None:
    from torch._subclasses.fake_tensor import FakeTensorMode

    # fake CPU tensors: fake CUDA ones can be made without CUDA, but attention then aborts the process. On CPU,
    # half-precision attention is a flash kernel that keeps O(tokens) for backward, as CUDA's flash/efficient ones do.
    fake = FakeTensorMode()
    with fake:
        unet = sdxl_unet()
        rows = {on: step_memory(unet, 128, on) for on in (False, True)}
    weights = rows[False][0]
    print(f"\nMemory estimate: one ID-EA training step at batch 1, 1024 px (128x128 latent), SDXL UNet fp16 "
          f"({sum(p.numel() for p in unet.parameters()) / 1e9:.2f} B params), backward to the 77x2048 context and "
          f"pooled 1280 only; fake tensors, GiB")
    print(f"  {'':40}{'no checkpointing':>18}{f'checkpointing ({len(unet_layers(unet))} layers)':>30}")
    kept = {on: rows[on][1] - weights for on in rows}
    transient = {on: rows[on][2] - rows[on][1] for on in rows}
    peak = {on: rows[on][2] for on in rows}

    def line(label: str, values: dict[bool, float]) -> None:
        print(f"  {label:40}{values[False] / GiB:18.2f}{values[True] / GiB:30.2f}")

    line("UNet weights", {on: weights for on in rows})
    line("activations kept for backward", kept)
    line("transient peak in backward", transient)
    line("UNet step peak", peak)
    with torch.device("meta"):
        config = IDEAConfig()
        trained = sum(p.numel() for m in (IDEnhancer(config), IDAdapter(config)) for p in m.parameters())
    trained += config.num_tokens * config.context_dim
    text_encoders = (123e6 + 695e6) * 2
    extra = text_encoders + trained * 16  # fp32 weights + grads + AdamW's two moments
    print(f"  + CLIP-L and CLIP-G fp16 weights ({text_encoders / GiB:.2f}), ID-EA modules and tokens with grads and "
          f"AdamW state ({trained / 1e6:.1f} M params fp32, {trained * 16 / GiB:.2f})")
    line("resident for a ComfyUI user", {on: peak[on] + extra for on in rows})
    line("  + SDXL VAE fp16 if not offloaded", {on: peak[on] + extra + 84e6 * 2 for on in rows})

    print("\nCheck of the method: small SDXL-shaped UNet (64/128/256 channels) in fp32, MiB above the weights")
    small = dict(block_out_channels=(64, 128, 256), transformer_layers_per_block=(1, 2, 2), attention_head_dim=(1, 2, 4))
    real_unet = sdxl_unet(torch.float32, **small)
    with fake:
        fake_unet = sdxl_unet(torch.float32, **small)
    for latent_size in (64, 96):
        for on in (False, True):
            with fake:
                weights, _, peak = step_memory(fake_unet, latent_size, on)
            real = real_step_bytes(real_unet, latent_size, on)
            print(f"  {latent_size * 8} px, checkpointing {'on ' if on else 'off'}: fake estimate {(peak - weights) / MiB:7.1f}, "
                  f"real CPU run (peak RSS) {real / MiB:7.1f}")


def bench_checkpoint_time(resolution: int, steps: int) -> None:
    """Checkpointing's cost in time, with real compute: fp32 on CPU, SDXL's layout at half width (a quarter of the
    parameters) so that it fits in RAM beside other work."""
    unet = sdxl_unet(torch.float32, block_out_channels=(160, 320, 640))
    unet_step(unet, resolution // 8)  # warm-up
    seconds = {False: 0.0, True: 0.0}
    for _ in range(steps):
        for on in (False, True):  # alternated, so that a busy machine slows both alike
            with checkpointed(unet, on):
                start = time.perf_counter()
                unet_step(unet, resolution // 8)
                seconds[on] += (time.perf_counter() - start) / steps
    print(f"\nTime, half-width SDXL UNet ({sum(p.numel() for p in unet.parameters()) / 1e6:.0f} M params) fp32 at "
          f"{resolution} px on CPU ({torch.get_num_threads()} threads), mean of {steps} fwd+bwd: "
          f"{seconds[False]:.1f} s without checkpointing, {seconds[True]:.1f} s with, ratio {seconds[True] / seconds[False]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--memory-estimate", action="store_true", help="no GPU needed: memory of a full-size step, "
                        "and checkpointing's time cost on CPU")
    parser.add_argument("--time-resolution", type=int, default=512, help="picture size of the CPU timing")
    parser.add_argument("--time-steps", type=int, default=2, help="timed steps of the CPU timing (about a minute each)")
    args = parser.parse_args()
    if args.memory_estimate:
        bench_memory()
        bench_checkpoint_time(args.time_resolution, args.time_steps)
        return
    bench_cpu(args.steps)
    if torch.cuda.is_available():
        bench_cuda(args.steps)
    else:
        print("CUDA: no GPU here, full-size path not run")


if __name__ == "__main__":
    main()
