"""FaceCLIP nodes (V3 schema): the encoder, and face + prompt -> SDXL CONDITIONING."""
from __future__ import annotations

from .v3 import io, node_schema

from faceclip_core.files.dtypes import DTYPE_NAMES

from .checked_node import CheckedNode
from .checks import require
from .face_nodes import FaceType
from .face_rows import MULTIPLE_FACES, ON_NO_FACE
from .faceclip_logic import (ENCODER_FILE, MAX_RESOLUTION, MODEL_FOLDER, FaceCLIPModel, encode_conditioning,
                             encoder_choices, load_faceclip)

CATEGORY = "FaceCLIP"
FaceCLIPType = io.Custom("FACECLIP")


def report_output() -> io.String.Output:
    return io.String.Output("report", display_name="report",
                            tooltip="Which face row each conditioning row uses, and the rows without a face.")


SIZE_FIELDS = {
    "width": ("original image width", 1024), "height": ("original image height", 1024),
    "crop_w": ("crop left (0 = no crop)", 0), "crop_h": ("crop top (0 = no crop)", 0),
    "target_width": ("target width", 1024), "target_height": ("target height", 1024),
}


class FaceCLIPLoader(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="FaceCLIPLoader",
            display_name="FaceCLIP Loader",
            category=CATEGORY,
            description="Loads the FaceCLIP encoder, which replaces SDXL's text encoders: it turns a face and a prompt "
                        "into SDXL conditioning. Use it with the FaceCLIP SDXL UNet (models/unet) and an SDXL VAE.",
            inputs=[
                io.Combo.Input("encoder_name", options=encoder_choices(),
                               tooltip=f"A file in models/{MODEL_FOLDER}: the official {ENCODER_FILE} or a converted "
                                       ".safetensors. The download entry fetches the official file there once (3.15 GB)."),
                io.Combo.Input("dtype", options=["auto"] + sorted(DTYPE_NAMES), default="auto",
                               tooltip="Weight precision. auto: bf16 where the GPU has it (as the official code), else "
                                       "the host's text-encoder choice. fp32 gives the reference numbers and twice the memory."),
            ],
            outputs=[FaceCLIPType.Output(tooltip="The FaceCLIP encoder, for FaceCLIP Text Encode (SDXL).")],
        )

    @classmethod
    def execute(cls, encoder_name: str, dtype: str) -> io.NodeOutput:
        return io.NodeOutput(load_faceclip(encoder_name, dtype))


class FaceCLIPTextEncodeSDXL(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            node_id="FaceCLIPTextEncodeSDXL",
            display_name="FaceCLIP Text Encode (SDXL)",
            category=CATEGORY,
            description="Encodes a prompt, and a reference face if one is connected, into SDXL conditioning with "
                        "FaceCLIP. Without a face it encodes the no-face path: use that for the negative prompt, as "
                        "the official pipeline does.",
            inputs=[
                FaceCLIPType.Input("faceclip", tooltip="From FaceCLIP Loader."),
                io.String.Input("text", multiline=True, dynamic_prompts=True,
                                tooltip="The prompt. With a face, 'Photo of a id person.' is put in front of it for you."),
                *[io.Int.Input(name, default=default, min=0, max=MAX_RESOLUTION, step=8,
                               tooltip=f"SDXL size conditioning: {what}.")
                  for name, (what, default) in SIZE_FIELDS.items()],
                io.Combo.Input("multiple_faces", options=list(MULTIPLE_FACES), default="first",
                               tooltip="With several reference faces: use the first, average their identity "
                                       "features (several photos of one person), or one per face: face row i goes with "
                                       "prompt i (one prompt: repeated for every face), one conditioning row each."),
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
            outputs=[io.Conditioning.Output(tooltip="SDXL conditioning (context 77x2048 per prompt, pooled output and "
                                                    "size fields)."), report_output()],
        )

    @classmethod
    def execute(cls, faceclip: FaceCLIPModel, text: str, width: int, height: int, crop_w: int, crop_h: int,
                target_width: int, target_height: int, multiple_faces: str, one_prompt_per_line: bool,
                face: list | None = None, on_no_face: str = "error") -> io.NodeOutput:
        require(faceclip, FaceCLIPModel, "FaceCLIP Text Encode (SDXL)", "faceclip", "FaceCLIP Loader")
        sizes = {"width": width, "height": height, "crop_w": crop_w, "crop_h": crop_h,
                 "target_width": target_width, "target_height": target_height}
        return io.NodeOutput(*encode_conditioning(faceclip, text, sizes, multiple_faces, one_prompt_per_line, face,
                                                  on_no_face))


FACECLIP_NODES: list[type[io.ComfyNode]] = [FaceCLIPLoader, FaceCLIPTextEncodeSDXL]
