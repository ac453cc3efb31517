"""Face analysis on insightface model packs: detect, pick, align (448 px ArcFace crop) and embed faces.

    analyzer = FaceAnalyzer(comfyui_models_dir)           # <dir>/insightface/models/antelopev2
    [result] = analyzer.analyze(image, pick="largest")     # NoFaceError if the image has no face
    result.picked.crop, result.picked.embedding            # (448, 448, 3) uint8 RGB, (512,) unit vector

Runs the packs' .onnx models in torch (default) or onnxruntime, without the insightface package; see README "Face analysis".
"""
from .analyzer import CROP_SIZE, FaceAnalyzer, no_face_error
from .faces import AnalyzedImage, Face
from .packs import DEFAULT_PACK, PACK_FILES, pack_dir
from .pick import DEFAULT_PICK, pick_face
from .preview import draw_preview
from .similarity import IdSimilarity, id_similarity

__all__ = [
    "CROP_SIZE",
    "DEFAULT_PACK",
    "DEFAULT_PICK",
    "PACK_FILES",
    "AnalyzedImage",
    "Face",
    "FaceAnalyzer",
    "IdSimilarity",
    "draw_preview",
    "id_similarity",
    "no_face_error",
    "pack_dir",
    "pick_face",
]
