"""Face nodes: load an insightface model pack, detect and align reference faces, score identity similarity.

ComfyUI modules are imported inside functions, so the declarations import (and are tested) without a host.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceclip_core.errors import UsageError
from faceclip_core.face import DEFAULT_PACK, PACK_FILES, Face, FaceAnalyzer, draw_preview, id_similarity

from . import host

CATEGORY = "FaceCLIP"
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
    root = insightface_root()
    found = sorted(p.name for p in (root / "insightface" / "models").glob("*") if p.is_dir()) if root else []
    return list(dict.fromkeys([DEFAULT_PACK, *PACK_FILES, *found]))


def to_image_batch(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 RGB arrays of one size -> ComfyUI IMAGE (B, H, W, 3) float in [0, 1]."""
    return torch.from_numpy(np.stack(images)).float() / 255.0


class FaceCLIPInsightFaceLoader:
    DESCRIPTION = (
        "Loads an insightface model pack (detector + ArcFace recogniser) from models/insightface/models/<pack>, "
        "the same files the InstantID and PuLID nodes use."
    )
    RETURN_TYPES = ("FACE_ANALYZER",)
    OUTPUT_TOOLTIPS = ("Face detector, aligner and recogniser, for Detect Face, Face ID Similarity and ID-EA Train.",)
    FUNCTION = "load"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "pack": (pack_choices(), {"default": DEFAULT_PACK, "tooltip": "antelopev2 (default) or buffalo_l."}),
                "provider": (list(PROVIDERS), {
                    "default": "auto",
                    "tooltip": "Where onnxruntime runs: auto picks CUDA when a working onnxruntime-gpu is installed."}),
            }
        }

    def load(self, pack: str, provider: str):
        return (FaceAnalyzer(insightface_root(), pack=pack, providers=PROVIDERS[provider]),)


class FaceCLIPDetectFace:
    DESCRIPTION = (
        "Finds the face in each image, picks one when there are several, and aligns it to the 448 px crop "
        "FaceCLIP takes. Several images give several reference faces."
    )
    RETURN_TYPES = ("FACE", "IMAGE", "IMAGE")
    RETURN_NAMES = ("face", "preview", "crops")
    OUTPUT_TOOLTIPS = (
        "One picked face per image (crop, landmarks, embedding), for FaceCLIP Text Encode and Face ID Similarity.",
        "Each image with every face boxed and the picked one in green.",
        "The aligned 448x448 crops FaceCLIP will see.",
    )
    FUNCTION = "detect"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "analyzer": ("FACE_ANALYZER", {"tooltip": "From InsightFace Loader (FaceCLIP)."}),
                "image": ("IMAGE", {"tooltip": "Photos of the person; one reference face is taken from each."}),
                "pick": (["largest", "score", "index"], {
                    "default": "largest",
                    "tooltip": "With several faces in a photo: the largest, the most confident, or the one at 'index'."}),
                "index": ("INT", {"default": 0, "min": 0, "max": 99,
                                  "tooltip": "With pick 'index': which face, counted from the left from 0."}),
            }
        }

    def detect(self, analyzer: FaceAnalyzer, image: torch.Tensor, pick: str, index: int):
        policy = f"index:{index}" if pick == "index" else pick
        results = analyzer.analyze(image, pick=policy)  # NoFaceError names the image without a face
        faces = [result.picked for result in results]
        originals = (image[..., :3].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        previews = [draw_preview(rgb, r.faces, r.picked_index) for rgb, r in zip(originals, results)]
        return faces, to_image_batch(previews), to_image_batch([f.crop for f in faces])


def similarity_summary(scores: tuple[float | None, ...], mean: float | None) -> str:
    lines = [f"image {i}: " + ("no face found" if s is None else f"{s:.3f}") for i, s in enumerate(scores)]
    found = sum(s is not None for s in scores)
    lines.append(f"ID-Sim mean over {found} of {len(scores)} images: " + ("n/a (no face in any image)" if mean is None else f"{mean:.3f}"))
    return "\n".join(lines)


class FaceIDSimilarity:
    DESCRIPTION = (
        "Identity similarity (ID-Sim, as the papers report it): cosine similarity of ArcFace embeddings between the "
        "reference face and the largest face in each image. An image without a face gets no score."
    )
    RETURN_TYPES = ("FLOAT", "FLOAT", "STRING")
    RETURN_NAMES = ("scores", "mean", "summary")
    OUTPUT_IS_LIST = (True, False, False)
    OUTPUT_TOOLTIPS = (
        "One score per image in [-1, 1]; 0.0 where the image has no face (see the summary).",
        "Mean over the images that have a face (0.0 if none has).",
        "Readable per-image scores.",
    )
    FUNCTION = "score"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "analyzer": ("FACE_ANALYZER", {"tooltip": "From InsightFace Loader (FaceCLIP); needs a recogniser."}),
                "reference": ("FACE", {"tooltip": "From FaceCLIP Detect Face; several faces are averaged."}),
                "images": ("IMAGE", {"tooltip": "Generated images to score."}),
            }
        }

    def score(self, analyzer: FaceAnalyzer, reference: list[Face], images: torch.Tensor):
        if not analyzer.has_recognizer:
            raise UsageError("This face model pack has no recogniser (ArcFace) model, so faces cannot be compared: "
                             "use antelopev2 or buffalo_l.")
        embeddings = [f.embedding for f in reference if isinstance(f, Face) and f.embedding is not None]
        if not embeddings:
            raise UsageError("The reference input has no face embedding: connect FaceCLIP Detect Face run with a pack "
                             "that has a recogniser.")
        ref = np.mean([e / np.linalg.norm(e) for e in embeddings], axis=0)
        found = analyzer.analyze(images, pick="largest", require_face=False)
        result = id_similarity(ref, [r.picked.embedding if r.picked else None for r in found])
        scores = [0.0 if s is None else s for s in result.scores]
        return scores, result.mean or 0.0, similarity_summary(result.scores, result.mean)


NODE_CLASS_MAPPINGS: dict[str, Any] = {
    "FaceCLIPInsightFaceLoader": FaceCLIPInsightFaceLoader,
    "FaceCLIPDetectFace": FaceCLIPDetectFace,
    "FaceIDSimilarity": FaceIDSimilarity,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FaceCLIPInsightFaceLoader": "InsightFace Loader (FaceCLIP)",
    "FaceCLIPDetectFace": "FaceCLIP Detect Face",
    "FaceIDSimilarity": "Face ID Similarity",
}
