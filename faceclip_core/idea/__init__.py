"""ID-EA (arXiv 2507.11990) on SDXL: textual inversion of one identity, anchored to well-known names' embeddings,
with an ID-Enhancer (ArcFace -> text space) and an ID-Adapter (gated update of the UNet's text context).

Pure PyTorch: the host's SDXL reaches the trainer through the small interfaces in interfaces.py.
`python -m faceclip_core.idea train --help` trains from a folder of photos.
"""
import importlib

# name -> module: imported on first use, so `python -m faceclip_core.idea train --help` answers without torch
_EXPORTS = {
    "AnchorBank": "anchor", "load_names": "anchor", "IDEAConfig": "config", "TrainConfig": "config",
    "TrainingSet": "dataset", "analyzer_face_embedder": "dataset", "prepare_training_set": "dataset",
    "IDEAWeights": "files", "load_idea_weights": "files", "output_paths": "files", "save_training_result": "files",
    "base_model_fingerprint": "fingerprint", "PLACEHOLDER": "interfaces", "Denoiser": "interfaces",
    "FaceEmbedder": "interfaces", "LatentEncoder": "interfaces", "PromptEncoder": "interfaces",
    "IDEATrainer": "train", "TrainResult": "train",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
