"""Identity control nodes (V3 schema): identity strength beyond what the host's ConditioningAverage allows, and
region masks for two people placed from a group photo. What they do is in identity_strength.py and
face_regions.py, which import without a host."""
from __future__ import annotations

import torch

from .checked_node import CheckedNode
from .face_nodes import FaceType
from .face_regions import REGION_LAYOUTS, face_regions
from .faceclip_logic import MAX_RESOLUTION
from .identity_strength import NODE as STRENGTH_NODE
from .identity_strength import STRENGTH_RANGE, identity_strength
from .v3 import io, node_schema

CATEGORY = "FaceCLIP"


class FaceCLIPIdentityStrength(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        low, high = STRENGTH_RANGE
        return node_schema(
            node_id="FaceCLIPIdentityStrength",
            display_name=STRENGTH_NODE,
            category=CATEGORY,
            description="How strongly the identity acts: strength x face + (1 - strength) x no_face, on the context and "
                        "the pooled output. 0: the prompt without the face; 1: the face conditioning as encoded; above "
                        "1: past it. For when it acts, put the result and the no-face conditioning through "
                        "Conditioning Set Timestep Range and Conditioning Combine (template faceclip_identity_strength).",
            inputs=[
                io.Conditioning.Input("face_conditioning",
                                      tooltip="From FaceCLIP Text Encode (SDXL) or FaceT5 Text Encode (FLUX) with the face."),
                io.Conditioning.Input("no_face_conditioning",
                                      tooltip="The same Text Encode node type and prompt without a face (the no-face path)."),
                io.Float.Input("strength", default=1.0, min=low, max=high, step=0.05,
                               tooltip="0: no identity, 1: as encoded, up to 1.5: stronger likeness, less room for the "
                                       "prompt (pose, expression, style)."),
            ],
            outputs=[io.Conditioning.Output(tooltip="The conditioning at that identity strength.")],
        )

    @classmethod
    def execute(cls, face_conditioning: list, no_face_conditioning: list, strength: float) -> io.NodeOutput:
        return io.NodeOutput(identity_strength(face_conditioning, no_face_conditioning, strength))


class FaceCLIPFaceRegions(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="FaceCLIPFaceRegions",
            display_name="FaceCLIP Face Regions",
            category=CATEGORY,
            description="Two region masks for two people in one image, for Conditioning (Set Mask): the left and right "
                        "halves, or split where the group photo the two faces came from is split between them. The "
                        "preview shows which face goes to which region.",
            inputs=[
                FaceType.Input("face_a", tooltip="From FaceCLIP Detect Face: the person of region A."),
                FaceType.Input("face_b", tooltip="From FaceCLIP Detect Face: the person of region B."),
                io.Int.Input("width", default=1024, min=16, max=MAX_RESOLUTION, step=8,
                             tooltip="Width of the image to generate (the latent's)."),
                io.Int.Input("height", default=1024, min=16, max=MAX_RESOLUTION, step=8,
                             tooltip="Height of the image to generate (the latent's)."),
                io.Combo.Input("layout", options=list(REGION_LAYOUTS), default=REGION_LAYOUTS[0],
                               tooltip="left/right halves: A left, B right. split between the faces: where the group "
                                       "photo (image input) is split half way between the two faces, A on its side."),
                io.Image.Input("image", optional=True,
                               tooltip="The group photo both faces were detected in (for 'split between the faces')."),
            ],
            outputs=[
                io.Mask.Output("mask_a", display_name="mask_a", tooltip="Region A (1 inside, 0 outside)."),
                io.Mask.Output("mask_b", display_name="mask_b", tooltip="Region B: the rest of the image."),
                io.Image.Output("preview", display_name="preview",
                                tooltip="The regions at the output size, each with the face it gets."),
            ],
        )

    @classmethod
    def execute(cls, face_a: list, face_b: list, width: int, height: int, layout: str,
                image: torch.Tensor | None = None) -> io.NodeOutput:
        return io.NodeOutput(*face_regions(face_a, face_b, layout, width, height, image))


CONTROL_NODES: list[type[io.ComfyNode]] = [FaceCLIPIdentityStrength, FaceCLIPFaceRegions]
