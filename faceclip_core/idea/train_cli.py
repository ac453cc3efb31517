"""`python -m faceclip_core.idea train --images DIR --sdxl MODEL --face-models DIR --name NAME`: ID-EA without ComfyUI.

Writes OUT/NAME.safetensors (embedding) and OUT/NAME.idea.safetensors (ID-EA weights), as the ComfyUI node does;
copy both into ComfyUI's models/embeddings to use them there. The resumable state goes to OUT/NAME.state.pt.
Exit codes: 0 trained, 2 bad arguments or files (or diffusers/transformers missing), 3 a photo without a face.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli.options import add_dtype_option, require_folder
from ..files.dtypes import torch_dtype
from ..errors import UsageError
from ..files.names import check_file_name
from ..face.packs import DEFAULT_PACK
from .config import TrainConfig

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
DEFAULTS = TrainConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", required=True, type=Path, help="folder of 2 to 10 photos of the person (PNG, JPEG, WebP)")
    parser.add_argument("--sdxl", required=True, type=Path,
                        help="SDXL base model: a diffusers folder (with model_index.json) or a .safetensors checkpoint")
    parser.add_argument("--sdxl-config", type=Path, help="for a .safetensors --sdxl offline: a diffusers SDXL folder with "
                        "its config files (default: diffusers fetches them from the hub once, then uses its cache)")
    parser.add_argument("--face-models", required=True, type=Path, help="folder holding insightface/models/<pack>/")
    parser.add_argument("--pack", default=DEFAULT_PACK, help="insightface model pack: antelopev2 or buffalo_l")
    parser.add_argument("--name", required=True, help="identity name: files NAME.safetensors, prompt word embedding:NAME")
    parser.add_argument("--out", type=Path, default=Path("."), help="output folder (default: the current one)")
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps, help="optimiser steps")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="samples per step (accumulated)")
    parser.add_argument("--micro-batch", type=int, default=DEFAULTS.micro_batch,
                        help="samples per forward pass; 1 fits 12 GB")
    parser.add_argument("--resolution", type=int, default=DEFAULTS.resolution, help="training size in px, a multiple of 64")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="random seed (a new seed is a new run)")
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True,
                        help="recompute the UNet's activations in backward: less memory, slower steps (default: on)")
    parser.add_argument("--device", default="auto", help="auto (cuda when this torch sees a GPU, else cpu), cpu, cuda or cuda:N")
    add_dtype_option(parser, "UNet and text encoders; auto: fp16 on CUDA, fp32 on CPU (the VAE runs in fp32)",
                     default="auto", extra=("auto",))


def check_arguments(args: argparse.Namespace) -> TrainConfig:
    """The settings, the name and the given paths, checked before torch or a model loads."""
    check_file_name(args.name, "ID-EA name")
    for flag in ("steps", "batch_size", "micro_batch", "resolution"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}.")
    if args.resolution % 64:
        raise UsageError(f"--resolution must be a multiple of 64 (SDXL's UNet), got {args.resolution}. Use 1024.")
    if args.batch_size % args.micro_batch:
        raise UsageError(f"--batch-size {args.batch_size} is not a multiple of --micro-batch {args.micro_batch}.")
    require_folder(args.images, "--images", "Put the person's photos in a folder and give its path.")
    if not args.sdxl.exists():
        raise UsageError(f"SDXL model {args.sdxl} not found. Give a diffusers SDXL folder or an .safetensors checkpoint.")
    if args.sdxl_config is not None:
        require_folder(args.sdxl_config, "--sdxl-config", "Give a diffusers SDXL folder with its config files.")
    require_folder(args.face_models, "--face-models", "Give the folder holding insightface/models/<pack>/, e.g. ComfyUI/models.")
    return TrainConfig(steps=args.steps, batch_size=args.batch_size, micro_batch=args.micro_batch,
                       resolution=args.resolution, seed=args.seed)


def check_outputs_and_photos(args: argparse.Namespace) -> list[Path]:
    """The name rule, the files it will write and the photo count (these need torch, not a model); the photos."""
    from ..files.atomic import check_target
    from .dataset import check_photo_count
    from .files import output_paths, state_path

    for path in (*output_paths(args.out, args.name), state_path(args.out, args.name)):
        check_target(path)
    folder = args.images
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    check_photo_count(len(files), f" in {folder} ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _photos(files: list[Path]):
    import torch

    from ..face.images import load_image_file

    photos = [torch.tensor(load_image_file(p), dtype=torch.float32) / 255 for p in files]
    return photos, [p.name for p in files]


def _device_and_dtype(args: argparse.Namespace):
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    dtype = ("fp16" if torch.device(device).type == "cuda" else "fp32") if args.dtype == "auto" else args.dtype
    return device, torch_dtype(dtype)


def run(args: argparse.Namespace) -> int:
    settings = check_arguments(args)
    from . import diffusers_sdxl

    diffusers_sdxl.require_diffusers()  # the optional extra: say how to install it before any slow work
    files = check_outputs_and_photos(args)
    from ..face import FaceAnalyzer
    from .anchor import AnchorBank, load_names
    from .config import IDEAConfig
    from .dataset import analyzer_face_embedder, prepare_training_set
    from .files import save_training_result, state_path
    from .fingerprint import base_model_fingerprint
    from .train import IDEATrainer

    photos, labels = _photos(files)
    analyzer = FaceAnalyzer(args.face_models, pack=args.pack, providers="auto")
    device, dtype = _device_and_dtype(args)
    sdxl = diffusers_sdxl.load_sdxl(args.sdxl, device, dtype, args.sdxl_config)
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
