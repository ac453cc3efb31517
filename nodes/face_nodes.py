"""Face nodes (V3 schema): load an insightface model pack, detect and align reference faces, score identity similarity."""
from __future__ import annotations

import torch
from .v3 import io, node_schema

from faceclip_core.face import BUILTIN_PACK, DEFAULT_PACK, FaceAnalyzer
from faceclip_core.face.engines import RUNTIMES

from .checked_node import CheckedNode
from .checks import require, require_faces
from .face_logic import PROVIDERS, detect_faces, load_analyzer, pack_choices, score_similarity
from .face_rows import ON_NO_FACE, ON_NO_FACE_TOOLTIP

CATEGORY = "FaceCLIP"
FaceAnalyzerType = io.Custom("FACE_ANALYZER")
FaceType = io.Custom("FACE")
ANALYZER_SOURCE = "InsightFace Loader (FaceCLIP)"


class FaceCLIPInsightFaceLoader(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="FaceCLIPInsightFaceLoader",
            display_name="InsightFace Loader (FaceCLIP)",
            category=CATEGORY,
            description="Loads the face detector: the built-in YuNet (ships with the pack, runs on the host's device; "
                        "enough for FaceCLIP and FaceT5), or an insightface model pack (detector + ArcFace recogniser, "
                        "needed by Face ID Similarity and ID-EA Train) from models/insightface/models/<pack>, the same "
                        "files the InstantID and PuLID nodes use.",
            inputs=[
                io.Combo.Input("pack", options=pack_choices(), default=BUILTIN_PACK,
                               tooltip=f"{BUILTIN_PACK}: the built-in detector, nothing to download (no recogniser). "
                                       f"{DEFAULT_PACK} or buffalo_l: insightface packs with a recogniser, for Face ID "
                                       "Similarity and ID-EA Train (unzip into models/insightface/models/<pack>)."),
                io.Combo.Input("provider", options=list(PROVIDERS), default="auto",
                               tooltip="Where it runs. auto: ComfyUI's device for yunet and for a pack on the torch "
                                       "runtime; CUDA with onnxruntime when a working onnxruntime-gpu is installed."),
                # optional, so API-format graphs saved before it existed stay valid
                io.Combo.Input("runtime", options=list(RUNTIMES), default="auto", optional=True,
                               tooltip="What runs an insightface pack's models: auto is torch on a GPU, onnxruntime on "
                                       "the CPU where it is installed (faster there), else torch. Both give the same "
                                       "faces. The built-in yunet always runs in torch."),
            ],
            outputs=[FaceAnalyzerType.Output(tooltip="Face detector, aligner and recogniser, for Detect Face, "
                                                     "Face ID Similarity and ID-EA Train.")],
        )

    @classmethod
    def execute(cls, pack: str, provider: str, runtime: str = "auto") -> io.NodeOutput:
        return io.NodeOutput(load_analyzer(pack, provider, runtime))


class FaceCLIPDetectFace(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="FaceCLIPDetectFace",
            display_name="FaceCLIP Detect Face",
            category=CATEGORY,
            description="Finds the face in each image, picks one when there are several, and aligns it to the 448 px "
                        "crop FaceCLIP takes. Several images give several reference faces.",
            inputs=[
                FaceAnalyzerType.Input("analyzer", tooltip=f"From {ANALYZER_SOURCE}."),
                io.Image.Input("image", tooltip="Photos of the person; one reference face is taken from each."),
                io.Combo.Input("pick", options=["largest", "score", "index"], default="largest",
                               tooltip="With several faces in a photo: the largest, the most confident, or the one at 'index'."),
                io.Int.Input("index", default=0, min=0, max=99,
                             tooltip="With pick 'index': which face, counted from the left from 0."),
                io.Combo.Input("on_no_face", options=list(ON_NO_FACE), default="error", optional=True,
                               tooltip=ON_NO_FACE_TOOLTIP),
            ],
            outputs=[
                FaceType.Output("face", display_name="face", tooltip="One picked face per image (crop, landmarks, "
                                "embedding), for FaceCLIP Text Encode and Face ID Similarity."),
                io.Image.Output("preview", display_name="preview",
                                tooltip="Each image with every face boxed and the picked one in green, labelled with "
                                        "the face row it became (an image without a face says so)."),
                io.Image.Output("crops", display_name="crops", tooltip="The aligned 448x448 crops FaceCLIP will see, one "
                                "per face row (black for a row without a face: what the no-face path sees)."),
                io.String.Output("report", display_name="report",
                                 tooltip="Which face of each image became which row, and which images had no face."),
            ],
        )

    @classmethod
    def execute(cls, analyzer: FaceAnalyzer, image: torch.Tensor, pick: str, index: int,
                on_no_face: str = "error") -> io.NodeOutput:
        require(analyzer, FaceAnalyzer, "FaceCLIP Detect Face", "analyzer", ANALYZER_SOURCE)
        require(image, torch.Tensor, "FaceCLIP Detect Face", "image", "an IMAGE output (e.g. Load Image)")
        return io.NodeOutput(*detect_faces(analyzer, image, pick, index, on_no_face))


class FaceIDSimilarity(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="FaceIDSimilarity",
            display_name="Face ID Similarity",
            category=CATEGORY,
            description="Identity similarity (ID-Sim, as the papers report it): cosine similarity of ArcFace embeddings "
                        "between the reference face and the largest face in each image. An image without a face gets "
                        "no score.",
            inputs=[
                FaceAnalyzerType.Input("analyzer", tooltip=f"From {ANALYZER_SOURCE} with a pack that has a recogniser "
                                                          f"({DEFAULT_PACK} or buffalo_l, not {BUILTIN_PACK})."),
                FaceType.Input("reference", tooltip="From FaceCLIP Detect Face; several faces are averaged."),
                io.Image.Input("images", tooltip="Generated images to score."),
            ],
            outputs=[
                io.Float.Output("scores", display_name="scores", is_output_list=True,
                                tooltip="One score per image in [-1, 1]; 0.0 where the image has no face (see the summary)."),
                io.Float.Output("mean", display_name="mean", tooltip="Mean over the images that have a face (0.0 if none has)."),
                io.String.Output("summary", display_name="summary", tooltip="Readable per-image scores."),
            ],
        )

    @classmethod
    def execute(cls, analyzer: FaceAnalyzer, reference: list, images: torch.Tensor) -> io.NodeOutput:
        require(analyzer, FaceAnalyzer, "Face ID Similarity", "analyzer", ANALYZER_SOURCE)
        require_faces(reference, "Face ID Similarity", "reference", allow_missing=True)
        require(images, torch.Tensor, "Face ID Similarity", "images", "an IMAGE output (e.g. VAE Decode)")
        return io.NodeOutput(*score_similarity(analyzer, reference, images))


FACE_NODES: list[type[io.ComfyNode]] = [FaceCLIPInsightFaceLoader, FaceCLIPDetectFace, FaceIDSimilarity]
