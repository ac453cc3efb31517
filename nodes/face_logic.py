"""What the face nodes do: offer the built-in detector and the insightface packs, detect and align reference faces,
score identity similarity.

Imports without ComfyUI (no comfy_api), so CI tests it; the node declarations are in face_nodes.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from faceclip_core.errors import UsageError
from faceclip_core.face import (BUILTIN_PACK, DEFAULT_PACK, PACK_FILES, Face, FaceAnalyzer, draw_preview,
                                id_similarity)

from . import host
from .face_rows import detected_rows

PROVIDERS = {"auto": "auto", "CPU": "cpu", "CUDA": "cuda"}


def insightface_root() -> Path | None:
    """The folder that holds `insightface/models/<pack>`: the host's models folder, or wherever another pack
    (or extra_model_paths.yaml) registered an `insightface` folder. None outside a host."""
    folder_paths = host.folder_paths()
    if folder_paths is None:
        return None
    registered = folder_paths.folder_names_and_paths.get("insightface")
    if registered and registered[0]:
        return Path(registered[0][0]).parent
    return Path(folder_paths.models_dir)


def pack_choices() -> list[str]:
    """The built-in detector first, then the known insightface packs (installed or not: picking a missing one says
    where to put it), then any other pack folder found."""
    root = insightface_root()
    found = sorted(p.name for p in (root / "insightface" / "models").glob("*") if p.is_dir()) if root else []
    return list(dict.fromkeys([BUILTIN_PACK, DEFAULT_PACK, *PACK_FILES, *found]))


def host_device():
    """The host's torch device (the GPU, or the CPU when ComfyUI runs with --cpu); None outside a host."""
    try:
        import comfy.model_management as model_management
    except ImportError:
        return None
    return model_management.get_torch_device()


def load_analyzer(pack: str, provider: str, runtime: str = "auto") -> FaceAnalyzer:
    """The loader node's analyzer: the built-in detector, or an insightface pack on `runtime`. With provider auto,
    torch runs on the host's device (its GPU, or the CPU when ComfyUI was started with --cpu)."""
    device = host_device() if provider == "auto" else None
    return FaceAnalyzer(insightface_root(), pack=pack, providers=PROVIDERS[provider], runtime=runtime, device=device)


def to_image_batch(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 RGB arrays of one size -> ComfyUI IMAGE (B, H, W, 3) float in [0, 1]."""
    return torch.from_numpy(np.stack(images)).float() / 255.0


def detect_faces(analyzer: FaceAnalyzer, image: torch.Tensor, pick: str, index: int, on_no_face: str = "error"
                 ) -> tuple[list[Face | None], torch.Tensor, torch.Tensor, str]:
    """(one FACE row per image (see face_rows.py), previews with every face boxed and the picked one labelled with
    its row, the aligned crops (black for a row without a face: what the no-face path sees), a report per image)."""
    policy = f"index:{index}" if pick == "index" else pick
    # with 'error', NoFaceError names the image without a face
    results = analyzer.analyze(image, pick=policy, require_face=on_no_face == "error")
    faces, row_of_image, report = detected_rows(results, on_no_face)
    originals = (image[..., :3].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    previews = [draw_preview(rgb, r.faces, r.picked_index, picked_label=f"-> row {row}",
                             note="" if r.picked else ("no face: skipped" if row is None else f"no face: row {row} text only"))
                for rgb, r, row in zip(originals, results, row_of_image)]
    size = analyzer.crop_size
    crops = [np.zeros((size, size, 3), np.uint8) if f is None else f.crop for f in faces]
    return faces, to_image_batch(previews), to_image_batch(crops), report


def similarity_summary(scores: tuple[float | None, ...], mean: float | None) -> str:
    lines = [f"image {i}: " + ("no face found" if s is None else f"{s:.3f}") for i, s in enumerate(scores)]
    found = sum(s is not None for s in scores)
    lines.append(f"ID-Sim mean over {found} of {len(scores)} images: " + ("n/a (no face in any image)" if mean is None else f"{mean:.3f}"))
    return "\n".join(lines)


def score_similarity(analyzer: FaceAnalyzer, reference: list[Face | None], images: torch.Tensor) -> tuple[list[float], float, str]:
    """(a score per image, 0.0 where no face; the mean over images with a face; a readable summary)."""
    if not analyzer.has_recognizer:
        raise UsageError(no_recognizer_message(analyzer.pack))
    embeddings = [f.embedding for f in reference if f is not None and f.embedding is not None]
    if not embeddings:
        raise UsageError("The reference input has no face embedding: connect FaceCLIP Detect Face run with a pack "
                         f"that has a recogniser ({DEFAULT_PACK} or buffalo_l in InsightFace Loader), not '{BUILTIN_PACK}'.")
    ref = np.mean([e / np.linalg.norm(e) for e in embeddings], axis=0)
    found = analyzer.analyze(images, pick="largest", require_face=False)
    result = id_similarity(ref, [r.picked.embedding if r.picked else None for r in found])
    scores = [0.0 if s is None else s for s in result.scores]
    return scores, result.mean or 0.0, similarity_summary(result.scores, result.mean)


def no_recognizer_message(pack: str) -> str:
    """Why faces cannot be compared with `pack`, and which pack adds a recogniser and where it goes."""
    root = insightface_root()
    where = root / "insightface" / "models" / DEFAULT_PACK if root else f"models/insightface/models/{DEFAULT_PACK}"
    what = ("The built-in detector 'yunet' finds and aligns faces but has no recogniser (ArcFace)"
            if pack == BUILTIN_PACK else f"The face model pack '{pack}' has no recogniser (ArcFace) model")
    return (f"{what}, so faces cannot be compared. Pick {DEFAULT_PACK} (or buffalo_l) in InsightFace Loader: its "
            f"{PACK_FILES[DEFAULT_PACK][1]} is the recogniser; unzip {DEFAULT_PACK}.zip into {where} (see README, Face analysis).")
