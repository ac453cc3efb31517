"""The checks a GPU run owes the pack, in one table: each model on the device against CPU fp32, with the host.

    python benchmarks/gpu_host_check.py [COMFYUI_DIR] [--device cuda] [--dtype bf16] [--facet5-depth 4] [--small]

No network; everything is built here from random weights and written where --work says (a temporary folder by
default; full size: ~3.2 GB FaceCLIP file, ~3.7 GB FaceT5 file at depth 4). With COMFYUI_DIR (a ComfyUI checkout
whose requirements this Python has), the encoders run on the host's own layers and model management, as the
nodes run them; without it, on this package's layers, and the host rows say they were skipped.

- FaceCLIP-SDXL, full size (the released architecture), written in the release's 16-bit format and loaded by the
  pack's loader: face prompts and the no-face path in --dtype on the device, against fp32 on the CPU from the
  same file. Limits: twice README.md's 16-bit figures (max abs over outputs of order 4), as a fraction of max |fp32|.
- FaceT5 at full width, every stack cut to --facet5-depth layers (full depth: ~25 GB of fp32 reference): the same,
  but no 16-bit figure has been measured for FaceT5 yet: its limits (FACET5_16_BIT) are a first guess, 2x what the
  tiny model gives on a CPU; a GPU run's numbers are what docs/gpu.md should record.
- Low-VRAM streaming (host): the FaceCLIP encoder loaded by the host's ModelPatcher with a budget of a quarter of
  its size, so most layers stream their weights at use (what --lowvram does): outputs against the full load.
- ID-EA Train, a few steps on the ID-EA modules at SDXL's widths (2048 context) with the tests' SDXL-shaped
  stand-ins for CLIP-L/G and the UNet: loss and the tokens' gradient on the device against CPU fp32, then Cancel
  pressed inside a layer mid-step through the host's model management (its interrupt and its flag; the
  tests' stand-in of the newest host's without a host): the state saved, the interrupt re-raised, and the resumed
  run equal to an uninterrupted one.

--small: the tests' tiny sizes, for CI's smoke test (tests/unit/project/test_gpu_host_check.py) on `--device cpu`. Exit status 1
when a check fails.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from faceclip_core.encoders.sdxl.checkpoint import save_official_encoder  # noqa: E402
from faceclip_core.files.dtypes import torch_dtype  # noqa: E402
from faceclip_core.encoders.sdxl.config import OFFICIAL as FACECLIP_OFFICIAL, tiny_config  # noqa: E402
from faceclip_core.encoders.sdxl.loader import load_encoder  # noqa: E402
from faceclip_core.encoders.sdxl.model import FaceCLIPEncoder  # noqa: E402
from faceclip_core.encoders.t5.config import OFFICIAL as FACET5_OFFICIAL  # noqa: E402
from faceclip_core.encoders.t5.loader import load_facet5  # noqa: E402

PROMPTS = ["a photo of a woman on a beach at sunset", "portrait of a woman as an astronaut, cinematic lighting"]
# README.md "16-bit": max abs from fp32 on outputs of order 4 (context, pooled); the limits are twice these, relative
README_16_BIT = {"bf16": (1.9e-2, 7.0e-2), "fp16": (2.9e-3, 9.2e-3)}
OUTPUT_SCALE = 4.0
# FaceT5: relative limits, twice the tiny model's errors on a CPU (bf16: context 4.0e-2, pooled 1.2e-2)
FACET5_16_BIT = {"bf16": (8e-2, 2.4e-2), "fp16": (1e-2, 5e-3)}


@dataclass
class Row:
    check: str
    measured: str
    limit: str
    ok: bool | None  # None: skipped

    @property
    def verdict(self) -> str:
        return "skipped" if self.ok is None else ("ok" if self.ok else "FAILED")


def faceclip_limits(dtype: str) -> tuple[float, float]:
    context, pooled = README_16_BIT[dtype]
    return 2 * context / OUTPUT_SCALE, 2 * pooled / OUTPUT_SCALE


def relative(got: torch.Tensor, want: torch.Tensor) -> float:
    want = want.float().cpu()
    return ((got.float().cpu() - want).abs().max() / want.abs().max().clamp_min(1e-12)).item()


def compare_rows(name: str, got: tuple[torch.Tensor, torch.Tensor], want: tuple[torch.Tensor, torch.Tensor],
                 limit: tuple[float, float]) -> list[Row]:
    rows = []
    for part, g, w, bound in (("context", got[0], want[0], limit[0]), ("pooled", got[1], want[1], limit[1])):
        error = relative(g, w)
        rows.append(Row(f"{name} {part}", f"{error:.2e}", f"{bound:.1e}", error <= bound))
    return rows


# --- the host -----------------------------------------------------------------------------------------
def import_host(comfyui: Path | None, device: str) -> Any:
    """The host's comfy package (its cli args at their defaults, --cpu for a CPU run), or None without one."""
    if comfyui is None:
        return None
    sys.path.append(str(comfyui.resolve()))  # after the pack: its `nodes` package, not the host's nodes.py
    import comfy.cli_args

    comfy.cli_args.args.cpu = device == "cpu"
    import comfy.model_management
    import comfy.model_patcher
    import comfy.ops

    return comfy


class HostEncoder:
    """An encoder on the host's casting layers in the host's ModelPatcher, as FaceCLIP/FaceT5 Loader make it."""

    def __init__(self, comfy: Any, encoder: torch.nn.Module, device: str, dtype: torch.dtype):
        self.mm = comfy.model_management
        self.patcher = comfy.model_patcher.ModelPatcher(encoder, load_device=torch.device(device), offload_device=torch.device("cpu"))
        self.encoder, self.dtype = encoder, dtype

    def encode(self, lowvram_budget: int = 0) -> tuple[tuple[torch.Tensor, torch.Tensor], bool]:
        """The encodes' outputs and whether the host streamed any layer (its model_lowvram flag)."""
        if lowvram_budget:
            self.patcher.patch_model(device_to=self.patcher.load_device, lowvram_model_memory=lowvram_budget)
        else:
            self.mm.load_models_gpu([self.patcher], force_full_load=True)
        streamed = bool(getattr(self.encoder, "model_lowvram", False))
        out = run_encodes(self.encoder, self.patcher.load_device, self.dtype)
        self.mm.unload_all_models()
        if lowvram_budget:
            self.patcher.unpatch_model(self.patcher.offload_device)
        return out, streamed


def run_encodes(encoder: Any, device: str | torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """One face with each prompt, then the no-face path, concatenated (context, pooled)."""
    encoder.execution_device, encoder.execution_dtype = torch.device(device), dtype
    face = torch.rand(1, 448, 448, 3, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        with_face = encoder.encode(face, PROMPTS, face_index=[0] * len(PROMPTS))
        without = encoder.encode(None, PROMPTS[:1])
    return tuple(torch.cat([a.float().cpu(), b.float().cpu()]) for a, b in zip(with_face, without))


def device_encodes(comfy: Any, load: Callable[..., Any], path: Path, device: str, dtype: torch.dtype,
                   ) -> tuple[tuple[torch.Tensor, torch.Tensor], HostEncoder | None]:
    if comfy is None:
        return run_encodes(load(path, device=device, dtype=dtype), device, dtype), None
    host = HostEncoder(comfy, load(path, device="cpu", dtype=dtype, ops=comfy.ops.manual_cast), device, dtype)
    return host.encode()[0], host


# --- the encoders --------------------------------------------------------------------------------------
def write_faceclip(path: Path, small: bool) -> Path:
    torch.manual_seed(0)
    encoder = FaceCLIPEncoder(tiny_config() if small else FACECLIP_OFFICIAL)
    with torch.no_grad():
        for name, param in encoder.named_parameters():
            if name.endswith(("gamma_v", "gamma_l")):  # trained fusion scales, not the 1e-4 start
                param.uniform_(0.5, 1.0)
    save_official_encoder(encoder.state_dict(), path, torch.bfloat16, encoder.config)
    return path


def write_facet5(path: Path, small: bool, depth: int) -> Path:
    from tiny_facet5 import random_facet5_state, tiny_facet5_config

    if small:
        config = tiny_facet5_config()
    else:
        config = FACET5_OFFICIAL
        cut = lambda part: dataclasses.replace(part, layers=depth)  # noqa: E731
        config = dataclasses.replace(config, clip=cut(config.clip), t5=cut(config.t5), face=cut(config.face), fuser=cut(config.fuser))
    state = random_facet5_state(config)
    torch.save({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()}, path)
    return path


def check_encoder(name: str, path: Path, load: Callable[..., Any], comfy: Any, device: str, dtype_name: str,
                  limit: tuple[float, float], lowvram: bool) -> list[Row]:
    dtype = torch_dtype(dtype_name)
    reference = run_encodes(load(path, device="cpu", dtype=torch.float32), "cpu", torch.float32)
    got, host = device_encodes(comfy, load, path, device, dtype)
    where = f"{name} {device} {dtype_name}{' host ops' if host else ''} vs CPU fp32"
    rows = compare_rows(where, got, reference, limit)
    if not lowvram:
        return rows
    if host is None:
        return rows + [Row(f"{name} --lowvram streaming", "no host checkout given", "", None)]
    streamed_out, streamed = host.encode(lowvram_budget=max(1, host.patcher.model_size() // 4))
    rows.append(Row(f"{name} --lowvram: layers streamed", str(streamed), "True", streamed))
    return rows + compare_rows(f"{name} --lowvram vs full load", streamed_out, got, (1e-3, 1e-3))


# --- ID-EA Train ---------------------------------------------------------------------------------------
def idea_trainer(device: str, small: bool, state_steps: int = 4):
    from faceclip_core.idea import AnchorBank, IDEAConfig, IDEATrainer, TrainConfig, load_names, prepare_training_set
    from idea_stand_ins import TINY_CONFIG, ColourFaceEmbedder, make_photos, TinyPromptEncoder, TinyUNet, TinyVAEEncoder

    config = TINY_CONFIG if small else IDEAConfig()
    torch.manual_seed(0)
    encoder = TinyPromptEncoder(config.width_l, config.width_g).eval().requires_grad_(False)
    unet = TinyUNet(context_dim=config.width_l + config.width_g).eval().requires_grad_(False)
    vae = TinyVAEEncoder().eval()
    settings = TrainConfig(steps=state_steps, batch_size=4, micro_batch=2, resolution=32, save_every=2)
    data = prepare_training_set(make_photos(), ColourFaceEmbedder(), vae, settings.resolution)
    anchor = AnchorBank.from_names(load_names(), encoder)
    encoder.to(device), unet.to(device)
    return IDEATrainer(encoder, unet, anchor, data, config, settings, device, "gpu-check"), unet


def host_management(comfy: Any) -> Any:
    if comfy is not None:
        return comfy.model_management
    from newer_host import ModelManagement

    return ModelManagement()


def press_cancel_inside(unet: torch.nn.Module, management: Any, call: int) -> None:
    """Every leaf layer checks for Cancel (as comfy.ops layers do on the newest host); Cancel is pressed while the
    UNet runs its call-th forward."""
    calls = []

    def count(*_):
        calls.append(1)
        if len(calls) == call:
            management.interrupt_current_processing(True)
    unet.register_forward_pre_hook(count)
    for module in unet.modules():
        if not list(module.children()):
            module.register_forward_pre_hook(lambda *_: management.throw_exception_if_processing_interrupted())


def check_idea(comfy: Any, device: str, small: bool, work: Path) -> list[Row]:
    from nodes.idea_logic import train_until_cancel

    rows = []
    cpu, dev = idea_trainer("cpu", small)[0], idea_trainer(device, small)[0]
    batch = cpu.sample_batch()
    dev.sample_batch()  # the same draws: one generator each, seeded alike
    losses = (cpu.step(batch), dev.step(batch))
    rows.append(Row(f"ID-EA step loss {device} vs CPU", f"{abs(losses[1] - losses[0]) / abs(losses[0]):.2e}", "1.0e-04",
                    abs(losses[1] - losses[0]) <= 1e-4 * abs(losses[0])))
    for part in ("tokens_l", "tokens_g"):
        error = relative(getattr(dev, part).grad, getattr(cpu, part).grad)
        rows.append(Row(f"ID-EA {part} gradient {device} vs CPU", f"{error:.2e}", "1.0e-03", error <= 1e-3))

    expected = idea_trainer(device, small)[0].run()
    management = host_management(comfy)
    first, unet = idea_trainer(device, small)
    press_cancel_inside(unet, management, call=6)  # step 3, second micro-batch
    state = work / "gpu_check.state.pt"
    state.unlink(missing_ok=True)
    try:
        train_until_cancel(first, state, None, management.processing_interrupted, management)
        cancelled = "not raised"
    except management.InterruptProcessingException:
        cancelled = f"step {torch.load(state, weights_only=True)['step']} saved"
    rows.append(Row("ID-EA Cancel inside a layer mid-step", cancelled, "step 2 saved", cancelled == "step 2 saved"))
    resumed = train_until_cancel(idea_trainer(device, small)[0], state, None, management.processing_interrupted, management)
    same = resumed.losses == expected.losses and torch.equal(resumed.tokens_l, expected.tokens_l)
    rows.append(Row("ID-EA resumed run = uninterrupted run", "equal" if same else "differs", "equal", same))
    return rows


# --- the run -------------------------------------------------------------------------------------------
def print_table(rows: list[Row], header: str) -> None:
    width = max(len(r.check) for r in rows)
    print(header)
    print(f"  {'check':{width}}  {'measured':>22}  {'limit':>12}  result")
    for r in rows:
        print(f"  {r.check:{width}}  {r.measured:>22}  {r.limit:>12}  {r.verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("comfyui", nargs="?", type=Path, help="a ComfyUI checkout to run the host's layers and model management")
    parser.add_argument("--device", default="cuda", help="where the checked runs go (default cuda)")
    parser.add_argument("--dtype", default="bf16", choices=sorted(README_16_BIT), help="the encoders' 16-bit dtype")
    parser.add_argument("--facet5-depth", type=int, default=4, help="layers of every FaceT5 stack (full: 24 T5 blocks)")
    parser.add_argument("--small", action="store_true", help="the tests' tiny sizes (CI's smoke test)")
    parser.add_argument("--work", type=Path, help="where the random model files go (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA GPU: run on a GPU machine, or give --device cpu")
    logging.basicConfig(level=logging.WARNING)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # fp32 against fp32
    comfy = import_host(args.comfyui, args.device)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        rows = check_encoder("FaceCLIP-SDXL", write_faceclip(work / "face_clip_encoder.pt", args.small), load_encoder,
                             comfy, args.device, args.dtype, faceclip_limits(args.dtype), lowvram=True)
        rows += check_encoder("FaceT5", write_facet5(work / "face_t5_encoder.pt", args.small, args.facet5_depth), load_facet5,
                              comfy, args.device, args.dtype, FACET5_16_BIT[args.dtype], lowvram=False)
        rows += check_idea(comfy, args.device, args.small, work)
    device = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    host = f"ComfyUI at {args.comfyui}" if comfy else "no host (this package's layers)"
    print_table(rows, f"gpu_host_check: {device}, torch {torch.__version__}, {host}, "
                      f"{'small' if args.small else f'full size (FaceT5 depth {args.facet5_depth})'}, "
                      f"{time.perf_counter() - started:.0f} s")
    return 1 if any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
