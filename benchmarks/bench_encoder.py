"""What one ComfyUI run costs the FaceCLIP encoders: 1 face, 4 prompts and 1 negative prompt.

    python benchmarks/bench_encoder.py [--device cpu|cuda] [--dtypes fp32 fp16 bf16] [--weights W] [--repeats N] [--official CHECKOUT]

(a) the official pipeline's pattern: one call per prompt with the face features recomputed each time,
    the negative in a call of its own that runs the face ViT on a black image;
(b) ours, a first run (a face not seen before): the face encoded once, the black-face features cached per
    loaded model, and the 4 prompts plus the negative in one batch;
(c) ours, the next queue run with only the prompts changed: the face's features come from the face cache,
    so only the text side runs (its outputs are checked bit for bit against the uncached path).
All three use this package's modules on the same full-size weights (random, in the released 16-bit format,
unless --weights is given). With --official CHECKOUT (a bytedance/FaceCLIP checkout; fp32 only, ~13 GB more
RAM) the official code itself also runs pattern (a) on the same weights, the baseline the goals speak of, and
(a), (b), (c) are each given as a share of its time. Each dtype runs in a fresh process so its resident memory
is its own. --tiny runs the tests' tiny model instead (a smoke run: its times mean nothing).

Every run prints the machine's load (1-minute load average, cores) before it starts and after, and prints no
ratio when the load was above the core count: on a busy machine the times are printed, marked contended.

    python benchmarks/bench_encoder.py --precision [--dtypes bf16 fp16] [--depth N] [--device cpu|cuda]

prints instead how far 16-bit outputs are from fp32 ones, per branch (L context, G context, pooled), with the
official code's 16-bit precision regions (the default) and without them: one random model whose weights are
16-bit values (as released), computed once in fp32 and once in each 16-bit dtype, same face and prompts.
--depth N keeps every stack (text towers, face ViTs, fusion layers) to N layers at full width, for machines
where the full depth is too slow in bf16 (CPUs without bf16 units).

    python benchmarks/bench_encoder.py --flops [--model facet5]

prints where the work of (a), (b), (c) is at full size: the matrix-multiply FLOPs per part (text side, face side),
counted on fake tensors (no weights, no compute, so the same on any machine, busy or not).

FaceT5 (FaceCLIP's FLUX encoder), the same 1 face + 4 prompts + 1 negative:

    python benchmarks/bench_encoder.py --model facet5 [--official CHECKOUT] [--t5-layers N] [--fuser-layers N] [--repeats N]

prints (1) with --official: the official code against ours at a reduced size that fits 2 CPU cores and ~8 GB:
every width real (T5-XXL 4096 wide, 64 heads, FFN 10240; the fuser's 1024/2048; face ViT and CLIP-L whole)
but the T5 and fuser depths cut to --t5-layers / --fuser-layers (default 1 each, of 24 and 6); the official
code called as its pipeline calls it (one face + one prompt per call) vs ours (b) one batch and (c) the
prompt-only re-run, outputs compared; (2) test size on CPU, timed: the tests' tiny file in the release's
layout, loaded through load_facet5, pattern (a) one call per row vs (b) one batch; (3) full size, memory
estimated on fake tensors (shapes only, no compute): weights per storage dtype (fp32 / bf16 / fp8 matrices)
and the peak an encode adds at bf16 compute; (4) full size timed when a CUDA GPU is present (random bf16
weights built on the GPU, no file). --tiny: (1) without the official code at the tests' tiny size, and (2).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faceclip_core.encoders.face_cache import FaceCache  # noqa: E402
from faceclip_core.encoders.sdxl.checkpoint import save_encoder  # noqa: E402
from faceclip_core.files.dtypes import DTYPE_NAMES, torch_dtype  # noqa: E402
from faceclip_core.encoders.sdxl.config import OFFICIAL, FaceCLIPConfig, tiny_config  # noqa: E402
from faceclip_core.encoders.sdxl.model import FaceCLIPEncoder  # noqa: E402

PROMPTS = [
    "a woman wearing a blue denim shirt and khaki pants, on a rocky desert plateau",
    "a woman reading a book in a sunlit cafe, film photo",
    "a woman as an astronaut on the moon, cinematic lighting",
    "portrait of a woman in a garden, soft morning light",
]
NEGATIVE = "nude, worst quality, low quality, blurry, deformed, watermark, text"
# (c): the next queue run, same face, new prompts (same negative)
PROMPTS_NEXT = [
    "a woman hiking in the mountains at dawn, wide shot",
    "a woman in a red dress at a gala, flash photo",
    "a woman painting in an art studio, oil on canvas",
    "close-up of a woman laughing, golden hour",
]
ROWS = [0, 0, 0, 0, None]  # the 4 prompts with the face, the negative without


class LoadWatch:
    """The machine's 1-minute load before a measurement and after it (less this process's own threads): ratios are
    printed only when neither was above the core count, so a contended figure is never mistaken for one."""

    def __init__(self) -> None:
        self.cores = os.cpu_count() or 1
        self.before = os.getloadavg()[0]
        print(f"machine load before: {self.before:.2f} (1-minute average), {self.cores} cores")

    def finish(self) -> bool:
        after = os.getloadavg()[0]
        others = max(0.0, after - torch.get_num_threads())
        self.quiet = max(self.before, others) <= self.cores
        print(f"machine load after: {after:.2f} (this benchmark's {torch.get_num_threads()} threads included), "
              f"{self.cores} cores: " + ("quiet enough, ratios printed" if self.quiet else
                                          "CONTENDED (load above the core count): times printed, no ratio"))
        return self.quiet

    def ratio(self, part: float, whole: float | None) -> str:
        return "-" if whole is None else f"{part / whole:.2f}" if self.quiet else "busy"


def rss_gib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def timed(fn, repeats: int, device: str) -> tuple[float, float, object]:
    """Best wall time and best CPU time (all threads) of `repeats` runs; CPU time is the steadier
    figure on a machine shared with other jobs, wall time the one a user waits."""
    best_wall, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best_wall, best_cpu = min(best_wall, time.perf_counter() - wall), min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, result


def official_pattern(encoder: FaceCLIPEncoder, face: torch.Tensor):
    rows = []
    with torch.inference_mode():
        for prompt in PROMPTS:
            rows.append(encoder(encoder.encode_faces(face), [prompt], [0]))
        encoder.clear_cache()  # the official negative runs the face ViT on a black image every time
        rows.append(encoder(None, [NEGATIVE], [None]))
    return torch.cat([c for c, _ in rows]), torch.cat([p for _, p in rows])


def our_pattern(encoder: FaceCLIPEncoder, face: torch.Tensor, prompts: list[str] = PROMPTS):
    return encoder.encode(face, prompts + [NEGATIVE], face_index=ROWS)


def first_run(encoder, face: torch.Tensor):
    """(b): a face not seen before (the black-face features are cached, as after any earlier run)."""
    encoder.face_cache.clear()
    return our_pattern(encoder, face)


def uncached(encoder, face: torch.Tensor, prompts: list[str]):
    """Our path with the face cache off: what (c) must equal bit for bit."""
    saved, encoder.face_cache = encoder.face_cache, FaceCache(max_entries=0)
    try:
        return our_pattern(encoder, face, prompts)
    finally:
        encoder.face_cache = saved


def time_ours(encoder, face: torch.Tensor, repeats: int, device: str) -> dict:
    """(b) first run and (c) prompt-only re-run, and whether (c) equals the uncached path bit for bit."""
    first_run(encoder, face)  # warm-up; also fills the black-face cache, as any earlier run would
    b_s, b_cpu, out_b = timed(lambda: first_run(encoder, face), repeats, device)
    our_pattern(encoder, face)  # the earlier queue run: the face is now in the cache
    c_s, c_cpu, out_c = timed(lambda: our_pattern(encoder, face, PROMPTS_NEXT), repeats, device)
    reference = uncached(encoder, face, PROMPTS_NEXT)
    return {"b_s": b_s, "b_cpu_s": b_cpu, "c_s": c_s, "c_cpu_s": c_cpu, "outputs_b": out_b,
            "c_bit_identical": all(torch.equal(x, y) for x, y in zip(out_c, reference))}


def max_diff(x: tuple[torch.Tensor, torch.Tensor], y: tuple[torch.Tensor, torch.Tensor]) -> float:
    return max((a.float() - b.float()).abs().max().item() for a, b in zip(x, y))


def official_run(checkout: Path, weights: Path, face: torch.Tensor, repeats: int):
    """The official encoder on the same weights, called as its pipeline does: (best seconds, outputs)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
    from official_reference import build_official

    from faceclip_core.encoders.sdxl.checkpoint import read_encoder_state

    model = build_official(checkout.resolve())
    model.load_state_dict(read_encoder_state(weights)[0])
    return time_official_calls(model, checkout, face, repeats)


def time_official_calls(model, checkout: Path, face: torch.Tensor, repeats: int):
    """An official wrapper (FaceCLIP-SDXL's or FaceT5's: the same call) as its pipelines call it, one face + one
    prompt per call and the negative with a black face: (best seconds, (context, pooled))."""
    image = face[0].permute(2, 0, 1)

    def pattern():
        rows = [model([image], torch.tensor([True]), [p], device="cpu") for p in PROMPTS]
        rows.append(model([torch.zeros_like(image)], torch.tensor([False]), [NEGATIVE], device="cpu"))
        return torch.cat([r.embeddings.float() for r in rows]), torch.cat([r.pooled[0].float() for r in rows])

    cwd = os.getcwd()
    os.chdir(checkout)  # it opens its configs by relative path
    try:
        with torch.no_grad():
            pattern()  # warm-up
            seconds, _, outputs = timed(pattern, repeats, "cpu")
    finally:
        os.chdir(cwd)
    return seconds, outputs


def measure(weights: Path, dtype_name: str, device: str, repeats: int, official: Path | None = None) -> dict:
    """One dtype, in this process: load, warm up, time (a), (b), (c) and, with `official`, the official code."""
    from faceclip_core.encoders.sdxl.loader import load_encoder

    torch.manual_seed(0)
    start = time.perf_counter()
    encoder = load_encoder(weights, device=device, dtype=torch_dtype(dtype_name))
    load_s = time.perf_counter() - start
    size = encoder.config.l.face.image_size * 4  # the detector's crop: 448 px for the release
    face = torch.rand(1, size, size, 3)
    ours = time_ours(encoder, face, repeats, device)
    a_s, a_cpu_s, out_a = timed(lambda: official_pattern(encoder, face), repeats, device)
    result = {
        "dtype": dtype_name, "device": device, "load_s": load_s, "a_s": a_s, "a_cpu_s": a_cpu_s,
        **{k: v for k, v in ours.items() if k != "outputs_b"}, "max_abs_diff": max_diff(out_a, ours["outputs_b"]),
        "rss_gib": rss_gib(), "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "cuda_peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
    }
    if official is not None and dtype_name == "fp32" and device == "cpu":
        del encoder  # room for the official model
        code_s, out_official = official_run(official, weights, face, repeats)
        result.update(official_code_s=code_s, diff_vs_official_code=max_diff(out_official, ours["outputs_b"]))
    return result


def write_random_weights(path: Path, config: FaceCLIPConfig = OFFICIAL) -> None:
    torch.manual_seed(0)
    encoder = FaceCLIPEncoder(config)
    save_encoder(encoder.state_dict(), encoder.config, path, torch.bfloat16)  # 16-bit like the release


def cut_depth(config: FaceCLIPConfig, depth: int) -> FaceCLIPConfig:
    """The official widths with every stack cut to `depth` layers (0: the full model)."""
    if depth <= 0:
        return config

    def branch(b):
        return dataclasses.replace(b, text=dataclasses.replace(b.text, layers=depth), face=dataclasses.replace(b.face, layers=depth),
                                   fusion=dataclasses.replace(b.fusion, layers=depth))
    return dataclasses.replace(config, l=branch(config.l), g=branch(config.g))


def use_official_16_bit(encoder: FaceCLIPEncoder, on: bool) -> None:
    for module in encoder.modules():
        if hasattr(module, "official_16_bit"):
            module.official_16_bit = on
    encoder.clear_cache()  # the cached face work was computed with the other regions


def precision(dtypes: list[str], depth: int, device: str) -> None:
    """16-bit vs fp32 outputs per branch, with and without the official precision regions."""
    torch.manual_seed(0)
    model = FaceCLIPEncoder(cut_depth(OFFICIAL, depth)).eval().requires_grad_(False)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("gamma_v", "gamma_l")):  # trained fusion residual scales, not the 1e-4 start
                param.uniform_(0.5, 1.0)
    width_l = model.config.l.text.width
    face = torch.rand(1, 448, 448, 3, generator=torch.Generator().manual_seed(1))
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; depth "
          f"{depth or 'full'}; max |16-bit - fp32| (relative to max |fp32|) per branch")
    print("dtype  regions   L context          G context          pooled (G)         seconds")
    for name in dtypes:
        dtype = torch_dtype(name)
        model.to(dtype)  # 16-bit weight values, as released; fp32 compute on exactly these values next
        reference = [t.float() for t in our_pattern(model.float().to(device), face)]
        model.to(dtype)
        for on in (True, False):
            use_official_16_bit(model, on)
            start = time.perf_counter()
            context, pooled = (t.float() for t in our_pattern(model, face))
            seconds = time.perf_counter() - start
            cells = []
            for ours, ref in ((context[..., :width_l], reference[0][..., :width_l]),
                              (context[..., width_l:], reference[0][..., width_l:]), (pooled, reference[1])):
                diff = (ours - ref).abs().max().item()
                cells.append(f"{diff:8.2e} ({diff / ref.abs().max().item():7.1e})")
            print(f"{name:5}  {'official' if on else 'none':8}  " + "  ".join(cells) + f"  {seconds:7.1f}")
        use_official_16_bit(model, True)
        model.float()

# --- --flops: where the work is, counted on fake tensors (no weights, no compute, load-independent) ----------
def flop_profile(model: str) -> None:
    """Matrix-multiply FLOPs of (a), (b), (c) at full size, per part (torch.utils.flop_counter on fake tensors).
    On CPU these models are bound by their matrix multiplies, so FLOP ratios bound the time ratios."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    if model == "sdxl":
        with torch.device("meta"):
            encoder = FaceCLIPEncoder(OFFICIAL)
        parts = {"text towers": "transformer", "fusion": "fuser"}
    else:
        from faceclip_core.encoders.t5.config import OFFICIAL as FACET5
        from faceclip_core.encoders.t5.model import FaceT5Encoder

        with torch.device("meta"):
            encoder = FaceT5Encoder(FACET5)
        parts = {"T5": "t5_encoder", "fuser": "fuser", "CLIP-L": "encoder_1"}
    face = torch.rand(1, 448, 448, 3)
    with FakeTensorMode(allow_non_fake_inputs=True):
        encoder = encoder.to_empty(device="cpu").eval().requires_grad_(False)
        with torch.inference_mode():
            features = encoder.encode_faces(face)
            encoder(features, [NEGATIVE], [None])  # the black-face features cached, as after any earlier run
            patterns = {
                "(a) official pattern": lambda: official_pattern(encoder, face),
                "(b) first run": lambda: encoder(encoder.encode_faces(face), PROMPTS + [NEGATIVE], ROWS),
                "(c) prompt-only re-run": lambda: encoder(features, PROMPTS_NEXT + [NEGATIVE], ROWS),  # a cache hit
            }
            totals = {}
            print(f"{model} full size, 1 face + 4 prompts + 1 negative: GFLOP of matrix multiplies (share of (a))")
            for label, run in patterns.items():
                counter = FlopCounterMode(display=False, depth=None)
                with counter:
                    run()
                totals[label] = counter.get_total_flops()
                counts = counter.get_flop_counts()
                split = {name: sum(sum(ops.values()) for key, ops in counts.items() if key.split(".")[-1] == leaf)
                         for name, leaf in parts.items()}
                share = totals[label] / totals["(a) official pattern"]
                split["face side"] = totals[label] - sum(split.values())  # face ViTs and their projections
                print(f"    {label:24} {totals[label] / 1e9:8.0f} ({share:.2f}); "
                      + ", ".join(f"{name} {flops / 1e9:.0f}" for name, flops in split.items()))


# --- FaceT5 -------------------------------------------------------------------------------------------
def facet5_patterns(encoder, face: torch.Tensor):
    """(a) the official pipeline's calls, one face + one prompt each (its numbers are defined per call);
    (b) ours, the face encoded once and every row in one batch."""
    def official():
        rows = [encoder.encode(face, [p]) for p in PROMPTS] + [encoder.encode(None, [NEGATIVE])]
        return torch.cat([c for c, _ in rows]), torch.cat([p for _, p in rows])

    def ours():
        return our_pattern(encoder, face)

    return official, ours


def facet5_reduced_config(t5_layers: int, fuser_layers: int):
    """The release's widths everywhere, with the T5 and fuser depths cut (the face ViT and CLIP-L whole)."""
    from faceclip_core.encoders.t5.config import OFFICIAL

    return dataclasses.replace(OFFICIAL, t5=dataclasses.replace(OFFICIAL.t5, layers=t5_layers),
                               fuser=dataclasses.replace(OFFICIAL.fuser, layers=fuser_layers))


def facet5_vs_official(checkout: Path | None, config, repeats: int, watch: LoadWatch) -> None:
    """(1): the official code called as its pipeline calls it vs ours (b) and (c), on the same bf16-rounded weights."""
    import gc

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
    from tiny_facet5 import random_facet5_state

    from faceclip_core.encoders.t5.model import FaceT5Encoder

    state = random_facet5_state(config, seed=0)
    release = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()}  # as released
    del state
    with torch.device("meta"):
        encoder = FaceT5Encoder(config)
    encoder.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in release.items()}, assign=True)
    encoder = encoder.eval().requires_grad_(False)
    face = torch.rand(1, 448, 448, 3, generator=torch.Generator().manual_seed(1))
    ours = time_ours(encoder, face, repeats, "cpu")
    del encoder
    gc.collect()
    code_s = diff = None
    if checkout is not None:
        code_s, out_official = facet5_official_run(checkout, config, release, face, repeats)
        diff = max_diff(out_official, ours["outputs_b"])
    quiet = watch.finish()
    size = (f"T5 {config.t5.layers} layers (release: 24) x {config.t5.d_model} (FFN {config.t5.d_ff}), fuser {config.fuser.layers} "
            f"layers (release: 6; bi-attention {config.fuser.bi_attn_dim}, FFN {config.fuser.image_ffn_dim}), face ViT "
            f"{config.face.layers}x{config.face.width}, CLIP-L {config.clip.layers}x{config.clip.width}")
    print(f"(1) {size}; CPU fp32, {torch.get_num_threads()} threads, 1 face + 4 prompts + 1 negative"
          + ("" if quiet else "; CONTENDED"))
    print("    official code (a)  ours (b) first run  ours (c) prompts only  (b)/official  (c)/official  "
          "max|official-b|  (c) == uncached")
    print(f"    {'-' if code_s is None else f'{code_s:.2f} s':>17}  {ours['b_s']:16.2f} s  {ours['c_s']:19.2f} s  "
          f"{watch.ratio(ours['b_s'], code_s):>12}  {watch.ratio(ours['c_s'], code_s):>12}  "
          f"{'-' if diff is None else f'{diff:.1e}':>15}  {'yes' if ours['c_bit_identical'] else 'NO'}")


def facet5_official_run(checkout: Path, config, release: dict, face: torch.Tensor, repeats: int):
    """The official FaceT5 on `release`, one face + one prompt per call: (best seconds, (context, pooled))."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
    from official_facet5_reference import build_official, load_release

    with tempfile.TemporaryDirectory() as tmp:
        model = build_official(checkout.resolve(), Path(tmp), config)
    load_release(model, release)
    return time_official_calls(model.float(), checkout, face, repeats)


def facet5_test_size(repeats: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
    from tiny_facet5 import write_tiny_facet5

    from faceclip_core.encoders.t5.loader import load_facet5

    with tempfile.TemporaryDirectory() as tmp:
        weights = write_tiny_facet5(Path(tmp) / "face_t5_encoder.pt")
        start = time.perf_counter()
        encoder = load_facet5(weights)
        load_s = time.perf_counter() - start
    face = torch.rand(1, 448, 448, 3)
    official, ours = facet5_patterns(encoder, face)
    ours()  # warm-up
    a_s, _, (ctx_a, _) = timed(official, repeats, "cpu")
    b_s, _, (ctx_b, _) = timed(ours, repeats, "cpu")
    cfg = encoder.config
    print(f"(2) test size (T5 {cfg.t5.layers}x{cfg.t5.d_model}, fuser {cfg.fuser.layers}, CLIP {cfg.clip.layers}x{cfg.clip.width}), "
          f"CPU fp32, {torch.get_num_threads()} threads: load {load_s:.2f} s; (a) per-row calls {a_s:.3f} s, "
          f"(b) one batch {b_s:.3f} s, max|a-b| {(ctx_a - ctx_b).abs().max().item():.1e}")


def facet5_memory_estimate() -> None:
    from faceclip_core.encoders.t5.config import OFFICIAL
    from faceclip_core.encoders.t5.loader import matrix_keys
    from faceclip_core.encoders.t5.model import FaceT5Encoder

    gib = 2**30
    with torch.device("meta"):
        meta = FaceT5Encoder(OFFICIAL)
    parts = {"T5-XXL encoder": "encoder_2.t5_encoder.", "face ViT": "encoder_2.face_encoder.", "fuser": "encoder_2.fuser.",
             "CLIP-L": "encoder_1.", "projections + table": "encoder_2."}
    state = meta.state_dict()
    counted: set[str] = set()
    print("(3) full size on fake tensors (no compute). Parameters:")
    for label, prefix in parts.items():
        keys = [k for k in state if k.startswith(prefix) and k not in counted]
        counted.update(keys)
        print(f"    {label:20} {sum(state[k].numel() for k in keys) / 1e9:6.3f} B")
    stored = matrix_keys(meta)
    matrices = sum(v.numel() for k, v in state.items() if k in stored)
    rest = sum(v.numel() for k, v in state.items() if k not in stored)
    largest = max(v.numel() for v in state.values())
    # matrices in the storage dtype; the rest in the compute dtype (fp32 with fp32 storage, else bf16)
    for name, matrix_bytes, rest_bytes in (("fp32", 4, 4), ("bf16", 2, 2), ("fp8 (e4m3fn)", 1, 2)):
        total = (matrices * matrix_bytes + rest * rest_bytes) / gib
        cast = f" (+ up to {largest * 2 / gib:.2f} GiB while one matrix is cast to bf16 at use)" if matrix_bytes == 1 else ""
        print(f"    weights stored {name:13}: {total:6.2f} GiB{cast}")
    weights, added = facet5_encode_fake_bytes(OFFICIAL, torch.bfloat16)
    print(f"    encode 1 face + 5 rows at bf16 compute: weights {weights / gib:.2f} GiB, peak added by the encode "
          f"{added / gib:.2f} GiB")
    # the count checked against a real CPU encode of a mid-size model (fp32, the CPU's compute dtype)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
    from tiny_facet5 import tiny_facet5_config

    mid = tiny_facet5_config(d_model=1024, t5_heads=16, d_ff=2816, bi_attn_dim=256, text_ffn_dim=256, image_ffn_dim=512)
    _, fake_added = facet5_encode_fake_bytes(mid, torch.float32)
    print(f"    check at T5 width 1024, fp32: fake count {fake_added / 2**20:.0f} MiB, real CPU encode "
          f"{facet5_encode_real_bytes(mid) / 2**20:.0f} MiB (process high-water mark)")


def facet5_encode_fake_bytes(config, dtype: torch.dtype) -> tuple[int, int]:
    """(weight bytes, peak bytes an encode of the benchmark's rows adds), counted on fake tensors."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from bench_idea import LiveBytes
    from faceclip_core.encoders.t5.model import FaceT5Encoder

    previous = torch.get_default_dtype()
    fake = FakeTensorMode(allow_non_fake_inputs=True)  # meta parameters become fake in to_empty
    try:
        torch.set_default_dtype(dtype)  # built in its dtype: .to() cannot convert fake parameters
        with torch.device("meta"):
            encoder = FaceT5Encoder(config)
        with fake:
            encoder = encoder.to_empty(device="cpu").eval().requires_grad_(False)
            tracker = LiveBytes()
            tracker.track([*encoder.parameters(), *encoder.buffers()])
            weights = tracker.live
            with tracker, torch.inference_mode():
                facet5_patterns(encoder, torch.rand(1, 448, 448, 3))[1]()
    finally:
        torch.set_default_dtype(previous)
    return weights, tracker.peak - weights


def facet5_encode_real_bytes(config) -> int:
    """Resident memory a real fp32 CPU encode adds at its peak (Linux): the process's high-water mark."""
    import ctypes

    from faceclip_core.encoders.t5.model import FaceT5Encoder

    def status(field: str) -> int:
        return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field))

    ctypes.CDLL(None).mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD: big blocks are mmapped, given back to the OS when freed
    encoder = FaceT5Encoder(config).eval().requires_grad_(False)
    ours = facet5_patterns(encoder, torch.rand(1, 448, 448, 3))[1]
    ours()  # warm-up: one-off allocations, the black-face cache
    before = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    ours()
    return status("VmHWM") - before


def facet5_full_size_gpu(repeats: int) -> None:
    from faceclip_core.encoders.t5.config import OFFICIAL

    if not torch.cuda.is_available():
        print("(4) full size timed: skipped (no CUDA GPU here)")
        return
    a_s, b_s = facet5_random_timed(OFFICIAL, "cuda", torch.bfloat16, repeats)
    print(f"(4) full size, {torch.cuda.get_device_name()}, bf16: (a) per-row calls {a_s:.3f} s, (b) one batch {b_s:.3f} s, "
          f"peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


def facet5_random_timed(config, device: str, dtype: torch.dtype, repeats: int) -> tuple[float, float]:
    """Seconds of patterns (a) and (b) on random weights built in place on `device` (no file, no CPU copy)."""
    from faceclip_core.encoders.t5.model import FaceT5Encoder

    torch.manual_seed(0)
    with torch.device("meta"):
        encoder = FaceT5Encoder(config)
    encoder = encoder.to_empty(device=device).to(dtype).eval().requires_grad_(False)
    with torch.no_grad():
        for name, tensor in encoder.state_dict().items():
            if not tensor.is_floating_point():
                tensor.zero_()
            elif tensor.ndim >= 2:
                tensor.normal_(0, tensor.shape[-1] ** -0.5)
            elif name.endswith(("weight", "running_var")):
                tensor.fill_(1.0)
            else:
                tensor.normal_(0, 0.1)
    encoder.clear_cache()
    official, ours = facet5_patterns(encoder, torch.rand(1, 448, 448, 3))
    ours()  # warm-up
    return timed(official, repeats, device)[0], timed(ours, repeats, device)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["sdxl", "facet5"], default="sdxl")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "fp16", "bf16"], choices=sorted(DTYPE_NAMES))
    parser.add_argument("--weights", type=Path, help="encoder weights (default: random, written to a temp file)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--official", type=Path, help="a bytedance/FaceCLIP checkout: also time the official code (fp32, CPU)")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny models: a smoke run, its times mean nothing")
    parser.add_argument("--t5-layers", type=int, default=1, help="FaceT5 (1): T5 layers kept (the release has 24)")
    parser.add_argument("--fuser-layers", type=int, default=1, help="FaceT5 (1): fuser layers kept (the release has 6)")
    parser.add_argument("--precision", action="store_true", help="16-bit vs fp32 outputs per branch instead of timings")
    parser.add_argument("--depth", type=int, default=0, help="with --precision: layers per stack (0: full model)")
    parser.add_argument("--flops", action="store_true", help="where the work is: FLOPs of (a), (b), (c) per part, full size, no compute")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one dtype and print JSON
    args = parser.parse_args()
    if args.tiny and args.official:
        parser.error("--official runs the official code at its own sizes: leave out --tiny")
    if args.precision:
        precision([d for d in args.dtypes if d != "fp32"], args.depth, args.device)
        return
    if args.flops:
        flop_profile(args.model)
        return
    if args.one:
        print(json.dumps(measure(args.weights, args.one, args.device, args.repeats, args.official)))
        return
    watch = LoadWatch()
    if args.model == "facet5":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
        from tiny_facet5 import tiny_facet5_config

        config = tiny_facet5_config() if args.tiny else facet5_reduced_config(args.t5_layers, args.fuser_layers)
        if args.official or args.tiny:
            facet5_vs_official(args.official, config, args.repeats, watch)
        facet5_test_size(args.repeats)
        if not args.tiny:
            facet5_memory_estimate()
            facet5_full_size_gpu(args.repeats)
        return
    sdxl(args, watch)


def sdxl(args: argparse.Namespace, watch: LoadWatch) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights
        if weights is None:
            weights = Path(tmp) / "random_encoder.safetensors"
            write_random_weights(weights, tiny_config() if args.tiny else OFFICIAL)
        print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads; weights {weights.name}; "
              "1 face + 4 prompts + 1 negative")
        results = []
        for name in args.dtypes:
            cmd = [sys.executable, __file__, "--one", name, "--device", args.device, "--weights", str(weights), "--repeats", str(args.repeats)]
            cmd += ["--official", str(args.official)] if args.official else []
            results.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]))
    watch.finish()
    print("dtype  load_s  (a)official pattern_s  (b)first run_s  (c)prompts only_s  (b)/(a)  (c)/(a)  max|a-b|  "
          "(c)==uncached  RSS_GiB  peak_RSS_GiB")
    for r in results:
        print(f"{r['dtype']:5}  {r['load_s']:6.1f}  {r['a_s']:22.2f}  {r['b_s']:14.2f}  {r['c_s']:17.2f}  "
              f"{watch.ratio(r['b_s'], r['a_s']):>7}  {watch.ratio(r['c_s'], r['a_s']):>7}  {r['max_abs_diff']:.1e}  "
              f"{'yes' if r['c_bit_identical'] else 'NO':>13}  {r['rss_gib']:7.2f}  {r['peak_rss_gib']:12.2f}"
              + (f"  cuda_peak {r['cuda_peak_gib']:.2f} GiB" if r["cuda_peak_gib"] is not None else ""))
        if "official_code_s" in r:
            code = r["official_code_s"]
            print(f"       official code, pattern (a): {code:.2f} s; (a)/official {watch.ratio(r['a_s'], code)}, "
                  f"(b)/official {watch.ratio(r['b_s'], code)}, (c)/official {watch.ratio(r['c_s'], code)}; "
                  f"max|official-b| {r['diff_vs_official_code']:.1e}")
    by = {r["dtype"]: r for r in results}
    if "fp32" in by:
        for name in ("fp16", "bf16"):
            if name in by:
                print(f"{name} resident / fp32 resident: {by[name]['rss_gib'] / by['fp32']['rss_gib']:.2f}")


if __name__ == "__main__":
    main()
