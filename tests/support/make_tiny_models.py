"""Write tiny random models in ComfyUI's models layout, so test graphs and workflows run unchanged.

    python tests/support/make_tiny_models.py --out DIR [--parts sdxl_unet,sdxl_vae,...]

Files written under DIR (a host's `models/` folder), by part; the workflows' file names (README's models table):
    sdxl_unet        unet/faceclip_unet.pt                         UNETLoader: SDXL-detected, native layout, fp16
    sdxl_vae         vae/sdxl_vae.safetensors                      VAELoader: full-size SDXL VAE, random
    sdxl_clip        text_encoders/tiny_clip_l.pt,                 DualCLIPLoader (type sdxl): full-size
                     text_encoders/tiny_clip_g.pt                  random CLIP-L/G, compact on disk
    faceclip         faceclip/face_clip_encoder.pt                 FaceCLIP Loader: SDXL widths, few layers
    insightface      insightface/models/antelopev2/*.onnx          InsightFace Loader: real detector, stand-in recogniser
    sdxl_checkpoint  checkpoints/sd_xl_base_1.0.safetensors        CheckpointLoaderSimple: the parts above in one
                                                                   file, sparse (see tests/support/tiny_checkpoint.py)
    flux_dit         diffusion_models/faceclip_flux_dit.pt         UNETLoader: FLUX.1-dev in diffusers layout, as the
                                                                   release's dit.pt; full widths, 1+1 blocks, compact
    flux_vae         vae/ae.safetensors                            VAELoader: full-size FLUX autoencoder, random
    facet5           faceclip/face_t5_encoder.pt                   FaceT5 Loader: FLUX's widths (T5 4096, CLIP-L
                                                                   768), few layers (see tests/support/tiny_facet5.py)
Sizes and why some parts cannot be small: see tests/support/tiny_sdxl.py and tests/support/tiny_flux.py. Each part is one function
`write_<part>(models_dir) -> list[Path]`, listed in PARTS; add a part by adding one.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from safetensors.torch import save_file

# run as a script from anywhere: the test helpers beside this file, and this checkout's faceclip_core
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]
import tiny_sdxl  # noqa: E402

SDXL_UNET = "unet/faceclip_unet.pt"
SDXL_VAE = "vae/sdxl_vae.safetensors"
FACECLIP_ENCODER = "faceclip/face_clip_encoder.pt"
CLIP_L = "text_encoders/tiny_clip_l.pt"
CLIP_G = "text_encoders/tiny_clip_g.pt"
SDXL_CHECKPOINT = "checkpoints/sd_xl_base_1.0.safetensors"
FLUX_DIT = "diffusion_models/faceclip_flux_dit.pt"
FLUX_VAE = "vae/ae.safetensors"
FACET5_ENCODER = "faceclip/face_t5_encoder.pt"


def _target(models_dir: Path, relative: str) -> Path:
    path = models_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_sdxl_unet(models_dir: Path) -> list[Path]:
    path = _target(models_dir, SDXL_UNET)
    torch.save(tiny_sdxl.random_state_dict(tiny_sdxl.unet_shapes(), seed=1), path)
    return [path]


def write_sdxl_vae(models_dir: Path) -> list[Path]:
    path = _target(models_dir, SDXL_VAE)
    save_file(tiny_sdxl.random_state_dict(tiny_sdxl.vae_shapes(), seed=2), str(path))
    return [path]


def write_sdxl_clip(models_dir: Path) -> list[Path]:
    paths = []
    for relative, config, seed in ((CLIP_L, tiny_sdxl.CLIP_L, 3), (CLIP_G, tiny_sdxl.CLIP_G, 4)):
        path = _target(models_dir, relative)
        torch.save(tiny_sdxl.random_state_dict(tiny_sdxl.clip_text_shapes(config), seed=seed, compact=True), path)
        paths.append(path)
    return paths


def write_faceclip(models_dir: Path) -> list[Path]:
    from tiny_faceclip import make_tiny_encoder, write_official_pt

    path = _target(models_dir, FACECLIP_ENCODER)
    write_official_pt(make_tiny_encoder(sdxl_widths=True), path, dtype=torch.float16)
    return [path]


def write_insightface(models_dir: Path) -> list[Path]:
    import assets

    return sorted(assets.build_face_pack(models_dir).glob("*.onnx"))


def write_sdxl_checkpoint(models_dir: Path) -> list[Path]:
    import tiny_checkpoint

    path = _target(models_dir, SDXL_CHECKPOINT)
    tiny_checkpoint.write_sparse_safetensors(path, tiny_checkpoint.checkpoint_shapes(), seed=5)
    return [path]


def write_flux_dit(models_dir: Path) -> list[Path]:
    import tiny_flux

    path = _target(models_dir, FLUX_DIT)
    # 0.55 B parameters in a few MB: compact tensors (see tests/support/tiny_sdxl.py), bf16 as the release
    torch.save(tiny_sdxl.random_state_dict(tiny_flux.dit_shapes(), dtype=torch.bfloat16, seed=6, compact=True), path)
    return [path]


def write_flux_vae(models_dir: Path) -> list[Path]:
    import tiny_flux

    path = _target(models_dir, FLUX_VAE)
    save_file(tiny_sdxl.random_state_dict(tiny_flux.vae_shapes(), dtype=torch.bfloat16, seed=7), str(path))
    return [path]


def write_facet5(models_dir: Path) -> list[Path]:
    from tiny_facet5 import random_facet5_state, tiny_facet5_config

    path = _target(models_dir, FACET5_ENCODER)
    # the context and pooled widths FLUX's transformer takes (0.34 B parameters with one fuser layer), saved as the
    # release (torch.save, bf16); the big matrices (T5's 32128-row embedding, the fuser's 4096-wide attention) as
    # compact tensors (see tests/support/tiny_sdxl.py), so the file has a few MB instead of 670
    state = random_facet5_state(tiny_facet5_config(d_model=4096, clip_width=768, fuser_layers=1), seed=8)
    generator = torch.Generator().manual_seed(8)
    torch.save({k: tiny_sdxl.compact_like(v, torch.bfloat16, generator) if v.numel() > 1 << 22
                else v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()}, path)
    return [path]


PARTS: dict[str, Callable[[Path], list[Path]]] = {
    "sdxl_unet": write_sdxl_unet,
    "sdxl_vae": write_sdxl_vae,
    "sdxl_clip": write_sdxl_clip,
    "faceclip": write_faceclip,
    "insightface": write_insightface,
    "sdxl_checkpoint": write_sdxl_checkpoint,
    "flux_dit": write_flux_dit,
    "flux_vae": write_flux_vae,
    "facet5": write_facet5,
}


def write_tiny_models(models_dir: Path, parts: Iterable[str] = PARTS) -> list[Path]:
    """Write the named parts (all by default) under `models_dir`; returns the files written. If a part fails,
    every file and folder this call created is removed again (the parts together are about 490 MB)."""
    existed = models_dir.exists()
    before = set(models_dir.rglob("*")) if existed else set()
    try:
        return [path for part in parts for path in PARTS[part](models_dir)]
    except BaseException:
        created = set(models_dir.rglob("*")) - before if models_dir.exists() else set()
        for path in sorted(created, key=lambda p: len(p.parts), reverse=True):  # files before their folders
            path.rmdir() if path.is_dir() else path.unlink()
        if not existed and models_dir.exists():
            models_dir.rmdir()
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="a host's models/ folder (created if missing)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from: {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)}")
    for path in write_tiny_models(args.out, parts):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
