"""What the FaceCLIP nodes do: load the encoder (or download it), and face + prompt -> SDXL CONDITIONING.

Imports without ComfyUI (host modules are imported inside functions), so CI tests it; the node declarations are in
faceclip_nodes.py.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from faceclip_core.encoders.sdxl.model import FaceCLIPEncoder
from faceclip_core.face import Face
from faceclip_core.files.download import OFFICIAL_FILES, OFFICIAL_REPO, download_official
from faceclip_core.files.dtypes import torch_dtype

from . import host
from .encoder_logic import MODEL_FOLDER, EncoderModel, check_conditioning, compute_dtype, encode_prompts

ENCODER_FILE = "face_clip_encoder.pt"
DOWNLOAD_CHOICE = f"download {ENCODER_FILE} from {OFFICIAL_REPO} ({OFFICIAL_FILES[ENCODER_FILE][1]})"
MAX_RESOLUTION = 16384


def encoder_choices() -> list[str]:
    files = host.folder_files(MODEL_FOLDER)
    return files + ([DOWNLOAD_CHOICE] if not any(Path(f).name == ENCODER_FILE for f in files) else [])


class FaceCLIPModel(EncoderModel):
    """The FACECLIP value (see EncoderModel)."""

    @property
    def encoder(self) -> FaceCLIPEncoder:
        return self.patcher.model


def auto_weight_dtype(device: torch.device) -> torch.dtype:
    """bf16 where the device has it (the official code runs FaceCLIP in bf16, and fp16's range can
    overflow in the 32-layer G tower), else the host's choice for text encoders."""
    import comfy.model_management as mm

    return torch.bfloat16 if mm.should_use_bf16(device) else mm.text_encoder_dtype(device)


def load_faceclip(encoder_name: str, dtype: str) -> FaceCLIPModel:
    """A dropdown entry (a file in models/faceclip, or the download entry) and a dtype choice -> FACECLIP."""
    import comfy.model_management as mm
    import comfy.ops
    import comfy.utils
    import folder_paths

    from faceclip_core.encoders.sdxl.loader import load_encoder

    if encoder_name == DOWNLOAD_CHOICE:
        bar = comfy.utils.ProgressBar(100)
        dest = folder_paths.get_folder_paths(MODEL_FOLDER)[0]
        try:
            path = download_official(ENCODER_FILE, dest, progress=lambda done, total: bar.update_absolute(done * 100 // max(total, 1)))
        except mm.InterruptProcessingException:  # the UI shows "interrupted" on every host, whatever its base class
            logging.info("FaceCLIP Loader: the download of %s was cancelled; nothing was written to %s.", ENCODER_FILE, dest)
            raise
    else:
        path = folder_paths.get_full_path_or_raise(MODEL_FOLDER, encoder_name)
    load_device, offload_device = mm.text_encoder_device(), mm.text_encoder_offload_device()
    weight_dtype = auto_weight_dtype(load_device) if dtype == "auto" else torch_dtype(dtype)
    # host casting layers: weights stay where the ModelPatcher puts them and are cast at use
    encoder = load_encoder(path, device=offload_device, dtype=weight_dtype, ops=comfy.ops.manual_cast)
    return FaceCLIPModel(encoder, load_device, offload_device, compute_dtype(weight_dtype, load_device), Path(path).name)


def encode_conditioning(faceclip: FaceCLIPModel, text: str, sizes: dict[str, int], multiple_faces: str,
                        one_prompt_per_line: bool, face: list[Face | None] | None, on_no_face: str = "error"
                        ) -> tuple[list, str]:
    """(SDXL CONDITIONING of the prompt(s), with the face when one is given, the report); `sizes` are SDXL's
    size fields."""
    context, pooled, report = encode_prompts(faceclip, text, multiple_faces, one_prompt_per_line, face,
                                             on_no_face=on_no_face)
    check_conditioning(context, pooled, len(context))
    return [[context, {"pooled_output": pooled, **sizes}]], report
