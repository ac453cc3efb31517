"""python -m faceclip_core.train prepare|stage1|stage2 ... (under torchrun for several GPUs or machines)."""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from ..errors import FaceCLIPError, UsageError
from .config import Stage1Config, Stage2Config, load_config
from .prepare import PrepareOptions, prepare

DEFAULT_ANALYZER = "faceclip_core.face:training_analyzer"


def _analyzer(spec: str) -> object:
    """'module:factory' -> factory(): the face analyser prepare detects and aligns with."""
    module_name, _, factory = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), factory)()
    except (ImportError, AttributeError) as exc:
        raise UsageError(
            f"Cannot build the face analyser {spec!r} ({exc}). Give --analyzer MODULE:FACTORY, a callable returning an "
            "object with detect(image) -> faces (see faceclip_core/train/face_analysis.py)."
        ) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m faceclip_core.train", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    defaults = PrepareOptions()
    prep = commands.add_parser("prepare", help="photos + captions -> filtered, aligned streaming shards")
    prep.add_argument("--images", type=Path, required=True, help="folder of photos (searched recursively)")
    prep.add_argument("--out", type=Path, required=True, help="dataset folder: train/ and val/ shards, report.json, skipped.jsonl")
    prep.add_argument("--manifest", type=Path, help="JSONL with file, caption and identity per line (default: sidecar .txt captions)")
    prep.add_argument("--identity-from-folder", action="store_true", help="a photo's identity is its parent folder's name")
    prep.add_argument("--min-score", type=float, default=defaults.min_score)
    prep.add_argument("--min-face", type=int, default=defaults.min_face, help="shorter side of the face box, px")
    prep.add_argument("--min-image-side", type=int, default=defaults.min_image_side)
    prep.add_argument("--shard-size", type=int, default=defaults.shard_size, help="samples per shard")
    prep.add_argument("--val-identities", type=int, default=defaults.val_identities, help="identities held out for validation")
    prep.add_argument("--seed", type=int, default=defaults.seed)
    prep.add_argument("--analyzer", default=DEFAULT_ANALYZER, help="MODULE:FACTORY of the face analyser")
    for name, text in (("stage1", "align the encoder (FaceCLIP stage 1)"), ("stage2", "fine-tune the SDXL UNet on FaceCLIP conditioning")):
        stage = commands.add_parser(name, help=text)
        stage.add_argument("--config", type=Path, required=True, help="the run's TOML config (see docs/training.md)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "prepare":
            options = PrepareOptions(args.min_score, args.min_face, args.min_image_side, args.shard_size,
                                     args.val_identities, args.identity_from_folder, args.seed)
            report = prepare(args.images, args.out, _analyzer(args.analyzer), options, args.manifest)
            print(f"kept {report['kept']}, skipped {report['skipped']} (reasons in {args.out / 'skipped.jsonl'})")
        elif args.command == "stage1":
            from .runs import run_stage1  # torch-heavy imports only for training commands

            run_stage1(load_config(args.config, Stage1Config))
        else:
            from .runs import run_stage2

            run_stage2(load_config(args.config, Stage2Config))
    except FaceCLIPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
