"""ID-EA (arXiv 2507.11990) on SDXL: textual inversion of one identity, anchored to well-known names' embeddings,
with an ID-Enhancer (ArcFace -> text space) and an ID-Adapter (gated update of the UNet's text context).

Pure PyTorch: the host's SDXL reaches the trainer through the small interfaces in interfaces.py.
`python -m faceclip_core.idea train --help` trains from a folder of photos.
"""
from .anchor import AnchorBank, load_names
from .config import IDEAConfig, TrainConfig
from .dataset import TrainingSet, analyzer_face_embedder, prepare_training_set
from .files import IDEAWeights, load_idea_weights, output_paths, save_training_result
from .fingerprint import base_model_fingerprint
from .interfaces import PLACEHOLDER, Denoiser, FaceEmbedder, LatentEncoder, PromptEncoder
from .train import IDEATrainer, TrainResult

__all__ = [
    "AnchorBank", "load_names", "IDEAConfig", "TrainConfig", "TrainingSet", "analyzer_face_embedder", "prepare_training_set",
    "IDEAWeights", "load_idea_weights", "output_paths", "save_training_result", "base_model_fingerprint", "PLACEHOLDER", "Denoiser",
    "FaceEmbedder", "LatentEncoder", "PromptEncoder", "IDEATrainer", "TrainResult",
]
