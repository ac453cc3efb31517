"""What the FaceT5 nodes do: the FaceT5 encoder under the host's model management, and face + prompt ->
FLUX CONDITIONING (the form the host's own FLUX text encoding gives: T5-width context + CLIP-L `pooled_output`).

Imports without ComfyUI (host modules are imported inside functions), so CI tests it; the V3 node declarations
are in facet5_nodes.py.
"""
from __future__ import annotations

from pathlib import Path

import torch

from faceclip_core.encoders.t5.model import FaceT5Encoder
from faceclip_core.errors import UsageError
from faceclip_core.face import Face
from faceclip_core.files.dtypes import DTYPE_NAMES, FP8_NAMES, torch_dtype

from . import host
from .encoder_logic import MODEL_FOLDER, EncoderModel, check_conditioning, compute_dtype, encode_prompts

FACET5_FILE = "face_t5_encoder.pt"
T5_FOLDER = "text_encoders"  # where FLUX users keep t5xxl_fp16 / t5xxl_fp8_e4m3fn
T5_FROM_FILE = "from the FaceT5 file"
# FLUX's T5-XXL context and CLIP-L pooled widths: what the transformer's txt_in and vector_in take
CONTEXT_LENGTH, CONTEXT_WIDTH, POOLED_WIDTH = 512, 4096, 768
# the node's dtype choices, fp32 first; fp8: storage only (see FP8_NAMES)
STORAGE_DTYPES = (*reversed(DTYPE_NAMES), *FP8_NAMES)
FP8 = tuple(torch_dtype(name) for name in FP8_NAMES)


def encoder_choices() -> list[str]:
    """The files of models/faceclip (FaceT5 sits beside FaceCLIP-SDXL: the release ships both in model/)."""
    return host.folder_files(MODEL_FOLDER)


def t5_choices() -> list[str]:
    return [T5_FROM_FILE, *host.folder_files(T5_FOLDER)]


def storage_dtype(choice: str, device: torch.device) -> torch.dtype:
    """The dtype the weights are held in. auto: the host's fp8 text-encoder storage when asked for on its command
    line, else bf16 where the device has it (the official code runs FaceT5 in bf16), else the host's choice."""
    if choice != "auto":
        return torch_dtype(choice)
    import comfy.model_management as mm

    host_choice = mm.text_encoder_dtype(device)
    if host_choice in FP8:
        return host_choice
    return torch.bfloat16 if mm.should_use_bf16(device) else host_choice


class FaceT5Model(EncoderModel):
    """The FACET5 value (see EncoderModel)."""

    @property
    def encoder(self) -> FaceT5Encoder:
        return self.patcher.model


def load_facet5_model(encoder_name: str, t5_name: str, dtype: str) -> FaceT5Model:
    import comfy.model_management as mm
    import comfy.ops
    import folder_paths

    from faceclip_core.encoders.t5.loader import load_facet5

    path = folder_paths.get_full_path_or_raise(MODEL_FOLDER, encoder_name)
    t5_path = None if t5_name == T5_FROM_FILE else folder_paths.get_full_path_or_raise(T5_FOLDER, t5_name)
    load_device, offload_device = mm.text_encoder_device(), mm.text_encoder_offload_device()
    storage = storage_dtype(dtype, load_device)
    compute = compute_dtype(storage, load_device)
    # host casting layers: weights stay where the ModelPatcher puts them, in `storage`, and are cast at use
    encoder = load_facet5(path, device=offload_device, dtype=compute, storage_dtype=storage,
                          ops=comfy.ops.manual_cast, t5_path=t5_path)
    return FaceT5Model(encoder, load_device, offload_device, compute, Path(path).name)


def check_flux_conditioning(context: torch.Tensor, pooled: torch.Tensor, rows: int) -> None:
    """What the FLUX transformer will read (txt_in: T5's width; vector_in: CLIP-L's)."""
    check_conditioning(context, pooled, rows, context_shape=(CONTEXT_LENGTH, CONTEXT_WIDTH), pooled_width=POOLED_WIDTH,
                       encoder="FaceT5", model="FLUX")


def encode_flux(facet5: FaceT5Model, text: str, multiple_faces: str, one_prompt_per_line: bool,
                face: list[Face | None] | None = None, on_no_face: str = "error") -> tuple[list[list], str]:
    """(FLUX CONDITIONING: one [context (N, 512, 4096), {"pooled_output": (N, 768)}], N = prompt rows; the report).
    Guidance comes from FluxGuidance, as for the host's own FLUX text encoders."""
    if not isinstance(facet5, FaceT5Model):
        raise UsageError(f"The facet5 input must come from FaceT5 Loader (got {type(facet5).__name__}).")
    context, pooled, report = encode_prompts(facet5, text, multiple_faces, one_prompt_per_line, face,
                                             "FaceT5 Text Encode (FLUX)", on_no_face)
    check_flux_conditioning(context, pooled, len(context))
    return [[context, {"pooled_output": pooled}]], report
