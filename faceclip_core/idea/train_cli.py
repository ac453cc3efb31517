"""`python -m faceclip_core.idea train --images DIR --sdxl MODEL --face-models DIR --name NAME`: ID-EA without ComfyUI.

Writes OUT/NAME.safetensors (embedding) and OUT/NAME.idea.safetensors (ID-EA weights), as the ComfyUI node does;
copy both into ComfyUI's models/embeddings to use them there. The resumable state goes to OUT/NAME.state.pt.
Exit codes: 0 trained, 2 bad arguments or files (or diffusers/transformers missing), 3 a photo without a face.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..atomic import check_target
from ..errors import UsageError
from ..face import DEFAULT_PACK, FaceAnalyzer
from ..face.images import load_image_file
from .anchor import AnchorBank, load_names
from .config import IDEAConfig, TrainConfig
from .dataset import analyzer_face_embedder, check_photo_count, prepare_training_set
from .files import output_paths, save_training_result, state_path
from .fingerprint import base_model_fingerprint
from .train import IDEATrainer

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
DEFAULTS = TrainConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", required=True, type=Path, help="folder of 2 to 10 photos of the person (PNG, JPEG, WebP)")
    parser.add_argument("--sdxl", required=True, type=Path,
                        help="SDXL base model: a diffusers folder (with model_index.json) or a .safetensors checkpoint")
    parser.add_argument("--sdxl-config", type=Path, help="for a .safetensors --sdxl offline: a diffusers SDXL folder with "
                        "its config files (default: diffusers fetches them from the hub once, then uses its cache)")
    parser.add_argument("--face-models", required=True, type=Path, help="folder holding insightface/models/<pack>/")
    parser.add_argument("--pack", default=DEFAULT_PACK, help=f"insightface model pack (default {DEFAULT_PACK})")
    parser.add_argument("--name", required=True, help="identity name: files NAME.safetensors, prompt word embedding:NAME")
    parser.add_argument("--out", type=Path, default=Path("."), help="output folder (default: the current one)")
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--micro-batch", type=int, default=DEFAULTS.micro_batch, help="samples per pass; 1 fits 12 GB")
    parser.add_argument("--resolution", type=int, default=DEFAULTS.resolution)
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True,
                        help="recompute the UNet's activations in backward: less memory, slower steps (default: on)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float16" if torch.cuda.is_available() else "float32",
                        choices=("float32", "float16", "bfloat16"), help="UNet and text encoders (the VAE runs in float32)")


def _photo_files(folder: Path) -> list[Path]:
    """The photos in `folder`, at least MIN_IMAGES of them (checked before any model loads)."""
    if not folder.is_dir():
        raise UsageError(f"--images {folder} is not a folder. Put the person's photos in a folder and give its path.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    check_photo_count(len(files), f" in {folder} ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _photos(files: list[Path]) -> tuple[list[torch.Tensor], list[str]]:
    photos = [torch.tensor(load_image_file(p), dtype=torch.float32) / 255 for p in files]
    return photos, [p.name for p in files]


def _settings(args: argparse.Namespace) -> TrainConfig:
    for flag in ("steps", "batch_size", "micro_batch", "resolution"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}.")
    if args.resolution % 64:
        raise UsageError(f"--resolution must be a multiple of 64 (SDXL's UNet), got {args.resolution}. Use 1024.")
    if args.batch_size % args.micro_batch:
        raise UsageError(f"--batch-size {args.batch_size} is not a multiple of --micro-batch {args.micro_batch}.")
    return TrainConfig(steps=args.steps, batch_size=args.batch_size, micro_batch=args.micro_batch,
                       resolution=args.resolution, seed=args.seed)


def check_arguments(args: argparse.Namespace) -> tuple[TrainConfig, list[Path]]:
    """Every refusal that needs no model (settings, name, output files, photo count): run before anything loads."""
    settings = _settings(args)
    for path in (*output_paths(args.out, args.name), state_path(args.out, args.name)):
        check_target(path)
    return settings, _photo_files(args.images)


def run(args: argparse.Namespace) -> int:
    from . import diffusers_sdxl

    diffusers_sdxl.require_diffusers()  # the optional extra: say how to install it before any slow work
    settings, files = check_arguments(args)
    photos, labels = _photos(files)
    analyzer = FaceAnalyzer(args.face_models, pack=args.pack, providers="auto")
    sdxl = diffusers_sdxl.load_sdxl(args.sdxl, args.device, getattr(torch, args.dtype), args.sdxl_config)
    encoder = diffusers_sdxl.DiffusersPromptEncoder(sdxl)
    data = prepare_training_set(photos, analyzer_face_embedder(analyzer), diffusers_sdxl.latent_encoder(sdxl),
                                settings.resolution, labels)
    fingerprint = base_model_fingerprint(encoder)
    trainer = IDEATrainer(encoder, diffusers_sdxl.DiffusersDenoiser(sdxl, settings.resolution, args.gradient_checkpointing),
                          AnchorBank.from_names(load_names(), encoder), data, IDEAConfig(), settings, sdxl.device, fingerprint)
    result = trainer.run(state_path(args.out, args.name), progress=_print_progress)
    paths = save_training_result(result, trainer.config, args.out, args.name, fingerprint)
    print("\n".join(str(p) for p in paths))
    return 0


def _print_progress(done: int, total: int, loss: float) -> None:
    print(f"step {done}/{total} loss {loss:.4f}", file=sys.stderr, flush=True)
