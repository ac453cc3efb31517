"""python -m faceclip_core.train prepare|stage1|stage2 ... (under torchrun for several GPUs or machines)."""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from ..cli_options import HelpFormatter, require_file, require_folder, run_command
from ..errors import UsageError
from .config import Stage1Config, Stage2Config, load_config
from .prepare import PrepareOptions, prepare

def _analyzer(args: argparse.Namespace) -> object:
    """The face analyser prepare detects, aligns and embeds with: the pack's insightface-style FaceAnalyzer,
    or any `--analyzer MODULE:FACTORY` whose factory() returns an object with detect(image) -> faces."""
    if args.analyzer is None:
        if args.models_dir is None:
            raise UsageError("prepare needs a face analyser: give --models-dir (the folder holding "
                             "insightface/models/<pack>/, e.g. ComfyUI/models), or --analyzer MODULE:FACTORY.")
        from ..face import FaceAnalyzer

        return FaceAnalyzer(args.models_dir, pack=args.pack, providers=args.providers)
    spec = args.analyzer
    module_name, _, factory = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), factory)()
    except (ImportError, AttributeError) as exc:
        raise UsageError(
            f"Cannot build the face analyser {spec!r} ({exc}). Give --analyzer MODULE:FACTORY, a callable returning an "
            "object with detect(image) -> faces (see faceclip_core/train/face_analysis.py)."
        ) from exc


def check_prepare_arguments(args: argparse.Namespace) -> None:
    """The given paths, checked before the face analyser loads."""
    require_folder(args.images, "--images", "Give the folder of captioned photos.")
    if args.manifest is not None:
        require_file(args.manifest, "--manifest", "Give the JSONL file of captions, or leave it out to use sidecar .txt captions.")
    if args.models_dir is not None:
        require_folder(args.models_dir, "--models-dir", "Give the folder holding insightface/models/<pack>/, e.g. ComfyUI/models.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m faceclip_core.train", description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    defaults = PrepareOptions()
    prep_help = "photos + captions -> filtered, aligned streaming shards"
    prep = commands.add_parser("prepare", help=prep_help, description=prep_help, formatter_class=HelpFormatter)
    prep.add_argument("--images", type=Path, required=True, help="folder of photos (searched recursively)")
    prep.add_argument("--out", type=Path, required=True, help="dataset folder: train/ and val/ shards, report.json, skipped.jsonl")
    prep.add_argument("--manifest", type=Path, help="JSONL with file, caption and identity per line (default: sidecar .txt captions)")
    prep.add_argument("--identity-from-folder", action="store_true", help="a photo's identity is its parent folder's name")
    prep.add_argument("--min-score", type=float, default=defaults.min_score, help="detection score a face needs to count")
    prep.add_argument("--min-face", type=int, default=defaults.min_face, help="shorter side of the face box, px")
    prep.add_argument("--min-image-side", type=int, default=defaults.min_image_side,
                      help="shorter side of the photo, px (SDXL trains at 1024)")
    prep.add_argument("--shard-size", type=int, default=defaults.shard_size, help="samples per shard")
    prep.add_argument("--val-identities", type=int, default=defaults.val_identities, help="identities held out for validation")
    prep.add_argument("--seed", type=int, default=defaults.seed, help="order of the samples in the shards")
    prep.add_argument("--models-dir", type=Path, help="folder holding insightface/models/<pack>/ (e.g. ComfyUI/models)")
    prep.add_argument("--pack", default="antelopev2", help="insightface model pack (detector + recogniser)")
    prep.add_argument("--providers", default="auto", choices=("auto", "cpu", "cuda"), help="onnxruntime device")
    prep.add_argument("--analyzer", help="MODULE:FACTORY of another face analyser (see faceclip_core/train/face_analysis.py)")
    for name, text in (("stage1", "align the encoder (FaceCLIP stage 1)"), ("stage2", "fine-tune the SDXL UNet on FaceCLIP conditioning")):
        stage = commands.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)
        stage.add_argument("--config", type=Path, required=True, help="the run's TOML config (see docs/training.md)")
    return parser


def _run(args: argparse.Namespace) -> None:
    if args.command == "prepare":
        check_prepare_arguments(args)
        options = PrepareOptions(args.min_score, args.min_face, args.min_image_side, args.shard_size,
                                 args.val_identities, args.identity_from_folder, args.seed)
        report = prepare(args.images, args.out, _analyzer(args), options, args.manifest)
        print(f"kept {report['kept']}, skipped {report['skipped']} (reasons in {args.out / 'skipped.jsonl'})")
    elif args.command == "stage1":
        from .runs import run_stage1  # torch-heavy imports only for training commands

        run_stage1(load_config(args.config, Stage1Config))
    else:
        from .runs import run_stage2

        run_stage2(load_config(args.config, Stage2Config))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
