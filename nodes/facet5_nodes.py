"""FaceT5 nodes (V3 schema): the encoder of FaceCLIP's FLUX.1-dev model, and face + prompt -> FLUX CONDITIONING.

Imports the host's comfy_api, so it loads only inside ComfyUI (or with its checkout on sys.path); what the nodes
do is in facet5_logic.py, which imports without a host.
"""
from __future__ import annotations

from .v3 import io, node_schema

from .checked_node import CheckedNode
from .face_nodes import FaceType
from .face_rows import MULTIPLE_FACES, ON_NO_FACE
from .faceclip_nodes import report_output
from .facet5_logic import (FACET5_FILE, MODEL_FOLDER, T5_FOLDER, T5_FROM_FILE, STORAGE_DTYPES, encode_flux, encoder_choices,
                           load_facet5_model, t5_choices)

CATEGORY = "FaceCLIP"
FaceT5Type = io.Custom("FACET5")


class FaceT5Loader(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="FaceT5Loader",
            display_name="FaceT5 Loader",
            category=CATEGORY,
            description="Loads FaceT5, FaceCLIP's encoder for FLUX.1-dev: it replaces FLUX's T5 and CLIP-L, turning a "
                        "face and a prompt into FLUX conditioning. Use it with FaceCLIP's FLUX transformer "
                        "(dit.pt in Load Diffusion Model) and FLUX's VAE.",
            inputs=[
                io.Combo.Input("encoder_name", options=encoder_choices(),
                               tooltip=f"A file in models/{MODEL_FOLDER}: the official {FACET5_FILE} or its "
                                       ".safetensors from `python -m faceclip_core convert`."),
                io.Combo.Input("t5", options=t5_choices(), default=T5_FROM_FILE,
                               tooltip=f"Where the T5-XXL part comes from: the FaceT5 file, or a FLUX T5 you already "
                                       f"have in models/{T5_FOLDER} (t5xxl_fp16 or t5xxl_fp8_e4m3fn), so only one "
                                       "T5 is kept on disk and in memory; the rest still comes from the FaceT5 file."),
                io.Combo.Input("dtype", options=["auto", *STORAGE_DTYPES], default="auto",
                               tooltip="Weight storage. auto: the host's fp8 text-encoder storage if ComfyUI was started "
                                       "with --fp8_e4m3fn-text-enc, else bf16 where the GPU has it (as the official "
                                       "code), else the host's text-encoder choice. fp8 halves T5-XXL's 9.5 GB and is "
                                       "computed in 16 bit; fp32 gives the reference numbers."),
            ],
            outputs=[FaceT5Type.Output(tooltip="The FaceT5 encoder, for FaceT5 Text Encode (FLUX).")],
        )

    @classmethod
    def execute(cls, encoder_name: str, t5: str, dtype: str) -> io.NodeOutput:
        return io.NodeOutput(load_facet5_model(encoder_name, t5, dtype))


class FaceT5TextEncodeFlux(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="FaceT5TextEncodeFlux",
            display_name="FaceT5 Text Encode (FLUX)",
            category=CATEGORY,
            description="Encodes a prompt, and a reference face if one is connected, into FLUX conditioning with "
                        "FaceT5. Without a face it encodes the no-face path: use that for the negative prompt, as the "
                        "official pipeline does. Set guidance with FluxGuidance (official: 1.0, with KSampler cfg 3.5).",
            inputs=[
                FaceT5Type.Input("facet5", tooltip="From FaceT5 Loader."),
                io.String.Input("text", multiline=True, dynamic_prompts=True,
                                tooltip="The prompt, as given (FaceT5 adds no identity words); up to 512 T5 tokens."),
                io.Combo.Input("multiple_faces", options=list(MULTIPLE_FACES), default="first",
                               tooltip="With several reference faces: use the first, average their face tokens "
                                       "(several photos of one person), or one per face: face row i goes with prompt i "
                                       "(one prompt: repeated for every face), one conditioning row each."),
                io.Boolean.Input("one_prompt_per_line", default=False,
                                 tooltip="Each non-empty line is its own prompt, all encoded as one batch: pair it with "
                                         "a latent batch of the same size to get one image per prompt."),
                FaceType.Input("face", optional=True,
                               tooltip="From FaceCLIP Detect Face. Leave empty for the no-face (negative) path."),
                io.Combo.Input("on_no_face", options=list(ON_NO_FACE), default="error", optional=True,
                               tooltip="A face row without a face (from Detect Face with on_no_face 'text only'): "
                                       "'error' stops the run; 'text only': that row takes the no-face path; 'skip': "
                                       "that row is left out (with 'one per face' its conditioning row is dropped, the "
                                       "others keep their order). The report output names the rows."),
            ],
            outputs=[io.Conditioning.Output(
                tooltip="FLUX conditioning: context 512x4096 per prompt and CLIP-L's pooled output, as the host's "
                        "FLUX text encoders give; add FluxGuidance."), report_output()],
        )

    @classmethod
    def execute(cls, facet5, text: str, multiple_faces: str, one_prompt_per_line: bool, face=None,
                on_no_face: str = "error") -> io.NodeOutput:
        return io.NodeOutput(*encode_flux(facet5, text, multiple_faces, one_prompt_per_line, face, on_no_face))


FACET5_NODES: list[type[io.ComfyNode]] = [FaceT5Loader, FaceT5TextEncodeFlux]
