"""Data preparation: a folder of captioned portraits -> filtered, aligned samples in streaming shards.

Each kept photo becomes one sample: `jpg` (the photo), `crop.png` (448 aligned face), `txt` (caption),
`json` (identity, box, landmarks, score, source) and `emb.npy` (the face embedding). Skipped photos are
counted by reason in `report.json` and listed one per line in `skipped.jsonl`.
"""
from __future__ import annotations

import collections
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..files.atomic import atomic_path, write_text
from ..errors import UsageError
from ..face.images import load_image_file
from .face_analysis import DetectedFace, DetectsFaces
from .shards import ShardWriter

CROP_SIZE = 448
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


class NothingKept(UsageError):
    """Every photo was skipped: the dataset is empty (exit code 3, as for "no face")."""

    exit_code = 3


@dataclass
class PrepareOptions:
    min_score: float = 0.5  # detection confidence a face needs to count
    min_face: int = 128  # shorter side of the face box, in pixels
    min_image_side: int = 1024  # shorter side of the photo (SDXL trains at 1024)
    shard_size: int = 1000  # samples per shard
    val_identities: int = 0  # identities held out for validation (written to DATA/val)
    identity_from_folder: bool = False  # identity = the photo's parent folder name
    seed: int = 0  # order of samples in the shards (the reader does not shuffle inside a shard)


@dataclass
class Entry:
    path: Path
    caption: str | None
    identity: str | None


def _from_manifest(images: Path, manifest: Path) -> Iterator[Entry]:
    if not manifest.is_file():
        raise UsageError(f"Manifest {manifest} does not exist. Give a JSONL file with one {{\"file\", \"caption\", \"identity\"}} per line, or use sidecar .txt captions.")
    for number, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            file = row["file"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise UsageError(f"{manifest} line {number} is not a JSON object with a 'file' key ({exc}).") from exc
        identity = row.get("identity")
        yield Entry(images / file, row.get("caption"), None if identity is None else str(identity))


def _from_sidecars(images: Path, identity_from_folder: bool) -> Iterator[Entry]:
    for path in sorted(p for p in images.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
        sidecar = path.with_suffix(".txt")
        caption = sidecar.read_text().strip() if sidecar.is_file() else None
        yield Entry(path, caption, path.parent.name if identity_from_folder else None)


def _pick_face(faces: list[DetectedFace], options: PrepareOptions) -> tuple[DetectedFace | None, str, str]:
    """The one usable face, or None with the skip reason and its detail."""
    confident = [f for f in faces if f.score >= options.min_score]
    if not faces:
        return None, "no face", ""
    if not confident:
        return None, "low detection score", f"best score {max(f.score for f in faces):.2f} < {options.min_score}"
    if len(confident) > 1:
        return None, "several faces", f"{len(confident)} faces"
    face = confident[0]
    x1, y1, x2, y2 = face.bbox
    side = min(x2 - x1, y2 - y1)
    if side < options.min_face:
        return None, "face too small", f"{side:.0f} px < {options.min_face}"
    if face.crop.shape != (CROP_SIZE, CROP_SIZE, 3):
        raise UsageError(f"The face analyser returned a crop of shape {face.crop.shape}; data preparation needs ({CROP_SIZE}, {CROP_SIZE}, 3) uint8 RGB (norm_crop with image_size={CROP_SIZE}).")
    if face.embedding is None:
        raise UsageError("The face analyser gives no face embedding: use a model pack with a recogniser (antelopev2 or buffalo_l).")
    return face, "", ""


def _sample(image: np.ndarray, face: DetectedFace, entry: Entry, identity: str) -> dict[str, bytes]:
    from .images import encode  # images.py imports torch, which `train prepare --help` should not wait for

    meta = {
        "identity": identity,
        "bbox": [float(v) for v in face.bbox],
        "kps": np.asarray(face.kps, dtype=float).tolist(),
        "score": float(face.score),
        "source": str(entry.path),
        "size": [int(image.shape[0]), int(image.shape[1])],
    }
    embedding = io.BytesIO()
    np.save(embedding, np.asarray(face.embedding, dtype=np.float32))
    return {
        "jpg": encode(image, "JPEG"),
        "crop.png": encode(face.crop, "PNG"),
        "txt": entry.caption.encode("utf-8"),
        "json": json.dumps(meta).encode("utf-8"),
        "emb.npy": embedding.getvalue(),
    }


def prepare(
    images: Path, out: Path, analyzer: DetectsFaces, options: PrepareOptions, manifest: Path | None = None
) -> dict[str, object]:
    """Filter, align and shard every photo under `images` into `out/train` (and `out/val`); returns the report."""
    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise UsageError(f"Image folder {images} does not exist.")
    entries = list(_from_manifest(images, manifest) if manifest else _from_sidecars(images, options.identity_from_folder))
    if not entries:
        raise UsageError(f"No images found in {images} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))}).")
    random.Random(options.seed).shuffle(entries)
    labelled = sorted({e.identity for e in entries if e.identity is not None})
    held_out = set(random.Random(options.seed).sample(labelled, min(options.val_identities, len(labelled))))
    if options.val_identities and len(labelled) <= options.val_identities:
        raise UsageError(f"--val-identities {options.val_identities} needs more identities than that; the data has {len(labelled)} labelled ones.")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the dataset.")
    writers = {"train": ShardWriter(out / "train", options.shard_size)}
    if held_out:
        writers["val"] = ShardWriter(out / "val", options.shard_size)
    skipped: collections.Counter[str] = collections.Counter()
    kept: collections.Counter[str] = collections.Counter()
    with atomic_path(out / "skipped.jsonl") as skipped_log, open(skipped_log, "w") as log:
        def skip(entry: Entry, reason: str, detail: str = "") -> None:
            skipped[reason] += 1
            log.write(json.dumps({"file": str(entry.path), "reason": reason, "detail": detail}) + "\n")

        for number, entry in enumerate(entries):
            if not entry.caption:
                skip(entry, "no caption", "no sidecar .txt or manifest caption")
                continue
            try:
                image = load_image_file(entry.path)
            except UsageError as exc:  # unreadable, a decompression bomb, or too small for face analysis at all
                skip(entry, "unreadable", str(exc))
                continue
            if min(image.shape[:2]) < options.min_image_side:
                skip(entry, "image too small", f"{image.shape[1]}x{image.shape[0]} < {options.min_image_side}")
                continue
            face, reason, detail = _pick_face(list(analyzer.detect(image)), options)
            if face is None:
                skip(entry, reason, detail)
                continue
            # unlabelled photos are their own identity: nothing else is masked as the same person
            identity = entry.identity if entry.identity is not None else f"photo-{number}"
            split = "val" if identity in held_out else "train"
            writers[split].write(f"s{number:09d}", _sample(image, face, entry, identity))
            kept[split] += 1
    indexes = {split: writer.close() for split, writer in writers.items()}
    report = {
        "images": len(entries),
        "kept": dict(kept),
        "skipped": dict(skipped),
        "shards": {split: len(index["shards"]) for split, index in indexes.items()},
        "val_identities": sorted(held_out),
    }
    write_text(out / "report.json", json.dumps(report, indent=1))
    if not sum(kept.values()):
        reasons = ", ".join(f"{count} {reason}" for reason, count in skipped.most_common())
        raise NothingKept(f"prepare kept none of the {len(entries)} photos under {images} ({reasons}); each photo and "
                          f"its reason is listed in {out / 'skipped.jsonl'}. Lower --min-face / --min-image-side / "
                          "--min-score, add captions, or use other photos.")
    return report
