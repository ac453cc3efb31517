"""`python -m faceclip_core detect IMG [--models-dir DIR --pack PACK]`: faces in one image as JSON on stdout.

Without --models-dir and --pack it runs the built-in detector (torch; nothing to install or download).

Output: {"faces": [{"bbox": [x1, y1, x2, y2], "kps": [[x, y] x 5], "score": s, "picked": bool}, ...]},
faces left to right. Exit codes: 0 found, 3 no face (message on stderr), 2 bad arguments or files.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys

from ..files.atomic import check_target
from ..errors import UsageError
from ..files.images import save_image
from ..face.analyzer import FaceAnalyzer, no_face_error
from ..face.engines import RUNTIMES
from ..face.faces import Face
from ..face.images import load_image_file
from ..face.packs import BUILTIN_PACK, DEFAULT_PACK
from ..face.pick import DEFAULT_PICK, parse_pick, pick_face
from ..face.preview import draw_preview


def _pick_argument(value: str) -> str:
    try:
        parse_pick(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="IMG", help="image file (PNG, JPEG, WebP; 8 or 16 bit, grey, RGB or RGBA)")
    parser.add_argument("--models-dir", help="folder holding insightface/models/<pack>/ (for an insightface pack)")
    parser.add_argument(
        "--pack",
        help=f"{BUILTIN_PACK} (the built-in detector, the default without --models-dir), {DEFAULT_PACK} (the default "
        "with --models-dir) or buffalo_l",
    )
    parser.add_argument(
        "--pick", default=DEFAULT_PICK, type=_pick_argument, help="largest (default), score, or index:K (K-th from the left)"
    )
    parser.add_argument("--providers", default="auto", choices=("auto", "cpu", "cuda"),
                        help="device: auto (the GPU when there is one), cpu or cuda")
    parser.add_argument("--runtime", default="auto", choices=RUNTIMES,
                        help="what runs the pack's models: auto (onnxruntime on the CPU where installed, else torch), torch, "
                             "or onnxruntime")
    parser.add_argument("--out-crop", help="write the picked face's 448x448 aligned crop here (PNG)")
    parser.add_argument("--out-preview", help="write the image with faces drawn, the picked one marked, here")


def run(args: argparse.Namespace) -> int:
    # stdout carries only the JSON: anything a library prints goes to stderr instead.
    with contextlib.redirect_stdout(sys.stderr):
        check_outputs(args)
        image = load_image_file(args.image)
        analyzer = FaceAnalyzer(args.models_dir, pack=args.pack, providers=args.providers, runtime=args.runtime)
        faces = analyzer.detect(image)
        if not faces:
            raise no_face_error(f"{args.image} ({image.shape[1]}x{image.shape[0]} px)")
        picked = pick_face(faces, args.pick)
        if args.out_crop:
            save_image(faces[picked].crop, args.out_crop)
        if args.out_preview:
            save_image(draw_preview(image, faces, picked), args.out_preview)
    print(json.dumps({"faces": [_face_json(face, index == picked) for index, face in enumerate(faces)]}))
    return 0


def _face_json(face: Face, picked: bool) -> dict:
    return {
        "bbox": [round(float(v), 2) for v in face.bbox],
        "kps": [[round(float(x), 2), round(float(y), 2)] for x, y in face.kps],
        "score": round(face.score, 4),
        "picked": picked,
    }


def check_outputs(args: argparse.Namespace) -> None:
    """--out-crop / --out-preview refused before any model loads: a folder, a device, the input image itself."""
    for path in (args.out_crop, args.out_preview):
        if path:
            check_target(path, [args.image])
