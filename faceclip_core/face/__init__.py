"""Face analysis: detect, pick, align (448 px ArcFace crop) and, with an insightface pack, embed faces.

    analyzer = FaceAnalyzer()                              # the built-in YuNet detector (torch), no embeddings
    analyzer = FaceAnalyzer(comfyui_models_dir)           # <dir>/insightface/models/antelopev2 (onnxruntime)
    [result] = analyzer.analyze(image, pick="largest")     # NoFaceError if the image has no face
    result.picked.crop, result.picked.embedding            # (448, 448, 3) uint8 RGB, (512,) unit vector or None

The packs run in torch or onnxruntime (no insightface package); the built-in detector in torch alone. See README
"Face analysis".
"""
from .analyzer import CROP_SIZE, FaceAnalyzer, no_face_error
from .faces import AnalyzedImage, Face
from .packs import BUILTIN_PACK, DEFAULT_PACK, PACK_FILES, pack_dir
from .pick import DEFAULT_PICK, pick_face
from .preview import draw_preview
from .similarity import IdSimilarity, id_similarity

__all__ = [
    "BUILTIN_PACK",
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
