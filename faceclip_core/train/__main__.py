"""python -m faceclip_core.train prepare|stage1|stage2|validate ... (under torchrun for several GPUs or machines)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli.options import HelpFormatter, require_file, require_folder, run_command
from .config import Stage1Config, Stage2Config, load_config
from .face_analysis import build_analyzer
from .prepare import PrepareOptions, prepare


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
    for name, text in (("stage1", "align the encoder (FaceCLIP stage 1)"), ("stage2", "fine-tune the SDXL UNet on FaceCLIP conditioning"),
                       ("validate", "score a stage-2 run's newest checkpoint on generated images of held-out identities")):
        stage = commands.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)
        stage.add_argument("--config", type=Path, required=True, help="the run's TOML config (see docs/training.md)")
    return parser


def _run(args: argparse.Namespace) -> None:
    if args.command == "prepare":
        check_prepare_arguments(args)
        options = PrepareOptions(args.min_score, args.min_face, args.min_image_side, args.shard_size,
                                 args.val_identities, args.identity_from_folder, args.seed)
        analyzer = build_analyzer(args.analyzer, args.models_dir, args.pack, args.providers)
        report = prepare(args.images, args.out, analyzer, options, args.manifest)
        print(f"kept {report['kept']}, skipped {report['skipped']} (reasons in {args.out / 'skipped.jsonl'})")
    elif args.command == "stage1":
        from .runs import run_stage1  # torch-heavy imports only for training commands

        run_stage1(load_config(args.config, Stage1Config))
    elif args.command == "stage2":
        from .runs import run_stage2

        run_stage2(load_config(args.config, Stage2Config))
    else:
        from .runs import validate_stage2

        scores = validate_stage2(load_config(args.config, Stage2Config))
        print(", ".join(f"{key} {value:.4g}" for key, value in scores.items()))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
