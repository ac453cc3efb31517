"""Face nodes (V3 schema): load an insightface model pack, detect and align reference faces, score identity similarity."""
from __future__ import annotations

import torch
from .v3 import io, node_schema

from faceclip_core.face import DEFAULT_PACK, FaceAnalyzer

from .checks import require, require_faces
from .face_logic import PROVIDERS, detect_faces, insightface_root, pack_choices, score_similarity

CATEGORY = "FaceCLIP"
FaceAnalyzerType = io.Custom("FACE_ANALYZER")
FaceType = io.Custom("FACE")
ANALYZER_SOURCE = "InsightFace Loader (FaceCLIP)"


class FaceCLIPInsightFaceLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="FaceCLIPInsightFaceLoader",
            display_name="InsightFace Loader (FaceCLIP)",
            category=CATEGORY,
            description="Loads an insightface model pack (detector + ArcFace recogniser) from "
                        "models/insightface/models/<pack>, the same files the InstantID and PuLID nodes use.",
            inputs=[
                io.Combo.Input("pack", options=pack_choices(), default=DEFAULT_PACK,
                               tooltip="antelopev2 (default) or buffalo_l."),
                io.Combo.Input("provider", options=list(PROVIDERS), default="auto",
                               tooltip="Where onnxruntime runs: auto picks CUDA when a working onnxruntime-gpu is installed."),
            ],
            outputs=[FaceAnalyzerType.Output(tooltip="Face detector, aligner and recogniser, for Detect Face, "
                                                     "Face ID Similarity and ID-EA Train.")],
        )

    @classmethod
    def execute(cls, pack: str, provider: str) -> io.NodeOutput:
        return io.NodeOutput(FaceAnalyzer(insightface_root(), pack=pack, providers=PROVIDERS[provider]))


class FaceCLIPDetectFace(io.ComfyNode):
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
            ],
            outputs=[
                FaceType.Output("face", display_name="face", tooltip="One picked face per image (crop, landmarks, "
                                "embedding), for FaceCLIP Text Encode and Face ID Similarity."),
                io.Image.Output("preview", display_name="preview",
                                tooltip="Each image with every face boxed and the picked one in green."),
                io.Image.Output("crops", display_name="crops", tooltip="The aligned 448x448 crops FaceCLIP will see."),
            ],
        )

    @classmethod
    def execute(cls, analyzer: FaceAnalyzer, image: torch.Tensor, pick: str, index: int) -> io.NodeOutput:
        require(analyzer, FaceAnalyzer, "FaceCLIP Detect Face", "analyzer", ANALYZER_SOURCE)
        require(image, torch.Tensor, "FaceCLIP Detect Face", "image", "an IMAGE output (e.g. Load Image)")
        return io.NodeOutput(*detect_faces(analyzer, image, pick, index))


class FaceIDSimilarity(io.ComfyNode):
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
                FaceAnalyzerType.Input("analyzer", tooltip=f"From {ANALYZER_SOURCE}; needs a recogniser."),
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
        require_faces(reference, "Face ID Similarity", "reference")
        require(images, torch.Tensor, "Face ID Similarity", "images", "an IMAGE output (e.g. VAE Decode)")
        return io.NodeOutput(*score_similarity(analyzer, reference, images))


FACE_NODES: list[type[io.ComfyNode]] = [FaceCLIPInsightFaceLoader, FaceCLIPDetectFace, FaceIDSimilarity]
