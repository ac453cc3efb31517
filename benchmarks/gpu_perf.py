"""The device check's numbers: full-size random weights on a CUDA GPU, no network, no model files.

    python benchmarks/gpu_perf.py --comfyui COMFY_CHECKOUT [--device cuda] [--dtypes bf16 fp16]
    python benchmarks/gpu_perf.py --device cpu --small [--comfyui COMFY_CHECKOUT]   # the CI smoke run

Prints, per dtype (bf16 and fp16 on CUDA):
1. FaceCLIP load time: the release's layout (`.pt`, 16-bit) of random weights, through load_encoder;
2. FaceCLIP encode time, 1 face + 4 prompts + 1 negative, (b) first run and (c) prompt-only re-run, each as a
   share of a 30-step 1024x1024 SDXL sampling with CFG (batch 2 per step) by the host's own SDXL UNet class
   (comfy.model_base via model detection, random weights, the same dtype);
3. FaceT5 encode time and peak GPU memory with fp8 (e4m3fn) storage, bf16 compute (goal: peak <= 12 GB);
4. ID-EA training steps per second at the default resolution (1024), batch 1, gradient checkpointing on as the
   node's default, on the host's SDXL UNet.
The host checkout (`--comfyui`) is needed for the UNet in 2 and 4; without it they are skipped (--small
then trains ID-EA on the tests' tiny stand-ins). --small runs the tests' tiny models at tiny sizes, to keep
this script from rotting where there is no GPU; its numbers mean nothing.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support"), str(ROOT / "benchmarks")]

from bench_encoder import PROMPTS, time_ours  # noqa: E402
from faceclip_core.encoders.sdxl.checkpoint import save_official_encoder  # noqa: E402
from faceclip_core.encoders.sdxl.config import OFFICIAL, tiny_config  # noqa: E402
from faceclip_core.files.dtypes import torch_dtype  # noqa: E402
from faceclip_core.encoders.sdxl.model import FaceCLIPEncoder  # noqa: E402

GB = 1e9


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def seconds(fn, device: str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def randomize_(module: torch.nn.Module) -> None:
    """Random values of a sane scale in place (weights built uninitialised by the host's layers)."""
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if tensor.ndim >= 2:
                tensor.copy_(torch.randn(tensor.shape, device=tensor.device, dtype=torch.float32).mul_(
                    tensor[0].numel() ** -0.5))
            else:
                tensor.fill_(1.0 if name.endswith("weight") else 0.0)


# --- the host's SDXL UNet -----------------------------------------------------------------------------
class Host:
    """ComfyUI imported from a checkout: its SDXL model (model detection on full-size SDXL key shapes)."""

    def __init__(self, checkout: Path, device: str):
        sys.path.insert(0, str(checkout.resolve()))
        import comfy.cli_args

        comfy.cli_args.args.cpu = device == "cpu"  # read when model_management is imported
        import comfy.model_detection
        import comfy.model_management
        import comfy.model_patcher

        self.mm, self.patcher, self.detection = comfy.model_management, comfy.model_patcher, comfy.model_detection
        self.device = torch.device(device)

    def sdxl(self, small: bool, dtype: torch.dtype):
        """comfy.model_base.SDXL with random weights on the device (a ModelPatcher around it)."""
        from tiny_sdxl import FULL_SDXL_UNET, TINY_SDXL_UNET, unet_shapes

        shapes = unet_shapes(TINY_SDXL_UNET if small else FULL_SDXL_UNET)
        meta = {k: torch.empty(shape, device="meta") for k, shape in shapes.items()}
        config = self.detection.model_config_from_unet(meta, "")
        config.set_inference_dtype(dtype, None)
        model = config.get_model(meta, "", device=self.device)
        model.diffusion_model.to(self.device, dtype)
        randomize_(model.diffusion_model)
        return self.patcher.ModelPatcher(model, load_device=self.device, offload_device=self.device)


def sampling_seconds(patcher, steps: int, latent: int, device: str) -> float:
    """`steps` UNet calls at batch 2 (positive + negative, as the host batches CFG) on a latent of `latent` px."""
    model = patcher.model
    x = torch.randn(2, 4, latent, latent, device=device, dtype=model.get_dtype())
    context = torch.randn(2, 77, 2048, device=device, dtype=model.get_dtype())
    y = model.encode_adm(pooled_output=torch.randn(2, 1280), width=latent * 8, height=latent * 8).to(device, model.get_dtype())
    t = torch.full((2,), 500.0, device=device)

    def sample(n: int):
        with torch.inference_mode():
            for _ in range(n):
                model.diffusion_model(x, t, context=context, y=y)

    sample(2)  # warm-up
    return seconds(lambda: sample(steps), device)


# --- 1, 2: FaceCLIP -------------------------------------------------------------------------------------
def faceclip(args, host: Host | None) -> None:
    config = tiny_config() if args.small else OFFICIAL
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "face_clip_encoder.pt"
        torch.manual_seed(0)
        save_official_encoder(FaceCLIPEncoder(config).state_dict(), weights, torch.bfloat16, config)  # as released
        for name in args.dtypes:
            dtype = torch_dtype(name)
            from faceclip_core.encoders.sdxl.loader import load_encoder

            start = time.perf_counter()
            encoder = load_encoder(weights, device=args.device, dtype=dtype)
            sync(args.device)
            load_s = time.perf_counter() - start
            face = torch.rand(1, 448, 448, 3)
            timing = time_ours(encoder, face, args.repeats, args.device)
            line = (f"FaceCLIP {name}: load {load_s:.2f} s; encode (b) first run {timing['b_s']:.3f} s, "
                    f"(c) prompt-only re-run {timing['c_s']:.3f} s, (c) bit-identical to uncached: "
                    f"{'yes' if timing['c_bit_identical'] else 'NO'}")
            del encoder
            if host is not None:
                patcher = host.sdxl(args.small, dtype)
                sample_s = sampling_seconds(patcher, args.steps, args.latent, args.device)
                del patcher
                line += (f"; {args.steps}-step {args.latent * 8}px SDXL sampling {sample_s:.2f} s: encode share "
                         f"(b) {timing['b_s'] / sample_s:.1%}, (c) {timing['c_s'] / sample_s:.1%}")
            else:
                line += "; SDXL sampling: skipped (no --comfyui)"
            print(line, flush=True)
            empty_cache(args.device)


def empty_cache(device: str) -> None:
    if device == "cuda":
        torch.cuda.empty_cache()


# --- 3: FaceT5 with fp8 storage ---------------------------------------------------------------------------
def random_facet5_fp8(config, device: str, compute: torch.dtype):
    """FaceT5 with random weights built on the device one tensor at a time: matrices stored in float8_e4m3fn (as
    FaceT5 Loader's fp8 choice), the rest in the compute dtype; no 12 GB file."""
    from faceclip_core.encoders import casting
    from faceclip_core.encoders.t5.loader import matrix_keys
    from faceclip_core.encoders.t5.model import FaceT5Encoder

    with torch.device("meta"):
        encoder = FaceT5Encoder(config, casting)
    matrices = matrix_keys(encoder)
    state = {}
    for key, meta in encoder.state_dict().items():
        if not meta.is_floating_point():
            state[key] = torch.zeros(meta.shape, dtype=meta.dtype, device=device)
        elif key in matrices or meta.ndim >= 2:
            value = torch.randn(meta.shape, device=device, dtype=compute).mul_(meta.shape[-1] ** -0.5)
            state[key] = value.to(torch.float8_e4m3fn) if key in matrices else value
        else:
            state[key] = torch.full(meta.shape, 1.0 if key.endswith(("weight", "running_var")) else 0.0,
                                    device=device, dtype=compute)
    encoder.load_state_dict(state, assign=True)
    encoder.execution_dtype = compute
    return encoder.eval().requires_grad_(False)


def facet5(args) -> None:
    from faceclip_core.encoders.t5.config import OFFICIAL as FACET5
    from tiny_facet5 import tiny_facet5_config

    compute = torch.float32 if args.device == "cpu" else torch.bfloat16
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    encoder = random_facet5_fp8(tiny_facet5_config() if args.small else FACET5, args.device, compute)
    weights_gb = sum(t.numel() * t.element_size() for t in encoder.state_dict().values()) / GB
    timing = time_ours(encoder, torch.rand(1, 448, 448, 3), args.repeats, args.device)
    peak = f"{torch.cuda.max_memory_allocated() / GB:.2f} GB (goal <= 12 GB)" if args.device == "cuda" else "- (CPU)"
    print(f"FaceT5 fp8_e4m3fn storage, {str(compute).removeprefix('torch.')} compute: weights {weights_gb:.2f} GB; encode "
          f"(b) first run {timing['b_s']:.3f} s, (c) prompt-only re-run {timing['c_s']:.3f} s; peak memory {peak}",
          flush=True)
    del encoder
    empty_cache(args.device)


# --- 4: ID-EA -------------------------------------------------------------------------------------------
def idea(args, host: Host | None) -> None:
    from faceclip_core.idea import AnchorBank, IDEAConfig, IDEATrainer, TrainConfig, load_names, prepare_training_set
    from faceclip_core.idea.gradient_checkpointing import gradient_checkpointing
    from idea_stand_ins import TINY_CONFIG, ColourFaceEmbedder, TinyPromptEncoder, make_models, make_photos

    from bench_idea import time_steps

    resolution = args.latent * 8
    settings = TrainConfig(batch_size=1, micro_batch=1, resolution=resolution)
    latents = lambda images: torch.randn(len(images), 4, args.latent, args.latent)  # noqa: E731
    data = prepare_training_set(make_photos(2, 64), ColourFaceEmbedder(), latents, 64)
    if host is None:
        encoder, denoiser, _ = make_models()
        config, layers, what = TINY_CONFIG, [], "the tests' tiny stand-ins (no --comfyui)"
    else:
        from nodes.idea_logic import HostDenoiser, unet_layers

        encoder = TinyPromptEncoder(768, 1280)  # the text towers are a small share of a step
        encoder.clip_g.projection = torch.nn.Linear(1280, 1280, bias=False)  # SDXL's pooled width
        denoiser = HostDenoiser(host.sdxl(args.small, torch_dtype(args.dtypes[0])), resolution)
        config, layers, what = IDEAConfig(), unet_layers(denoiser.base.diffusion_model), f"the host's SDXL UNet, {args.dtypes[0]}"
    encoder = encoder.to(args.device).requires_grad_(False)
    trainer = IDEATrainer(encoder, denoiser, AnchorBank.from_names(load_names(), encoder), data, config, settings, args.device)
    with gradient_checkpointing(layers):
        step_s = time_steps(trainer, args.idea_steps, lambda: sync(args.device))
    print(f"ID-EA training at {resolution} px, batch 1, on {what}: {1 / step_s:.2f} steps/s ({step_s:.3f} s/step; "
          f"the default run, 320 steps x batch 8: ~{step_s * 320 * 8 / 60:.1f} min)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--comfyui", type=Path, help="a ComfyUI checkout: its SDXL UNet class for sampling and ID-EA")
    parser.add_argument("--small", action="store_true", help="tiny models at tiny sizes: a smoke run (CI)")
    parser.add_argument("--dtypes", nargs="+", choices=["bf16", "fp16", "fp32"],
                        help="default: bf16 fp16 on CUDA, fp32 on CPU (no fast 16-bit units there)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA GPU here; for a smoke run use --device cpu --small")
    args.dtypes = args.dtypes or (["bf16", "fp16"] if args.device == "cuda" else ["fp32"])
    small = SimpleNamespace(steps=1, latent=8, idea_steps=1, repeats=1)
    full = SimpleNamespace(steps=30, latent=128, idea_steps=5, repeats=args.repeats)
    for key, value in vars(small if args.small else full).items():
        setattr(args, key, value)
    card = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"device {args.device} ({card}), torch {torch.__version__}, {'small' if args.small else 'full'} size; "
          f"encodes: 1 face + {len(PROMPTS)} prompts + 1 negative", flush=True)
    host = Host(args.comfyui, args.device) if args.comfyui else None
    start = time.perf_counter()
    faceclip(args, host)
    facet5(args)
    idea(args, host)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
