"""FaceCLIP nodes: the encoder under the host's model management, and face + prompt -> SDXL CONDITIONING.

ComfyUI modules are imported inside functions, so the declarations import (and are tested) without a host.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from faceclip_core.encoders.sdxl.checkpoint import DTYPES
from faceclip_core.download import OFFICIAL_FILES, OFFICIAL_REPO, download_official
from faceclip_core.errors import UsageError
from faceclip_core.face import Face
from faceclip_core.encoders.sdxl.model import FaceCLIPEncoder

from . import host
from .face_nodes import to_image_batch

CATEGORY = "FaceCLIP"
MODEL_FOLDER = "faceclip"
MODEL_EXTENSIONS = {".safetensors", ".pt", ".pth", ".bin"}
ENCODER_FILE = "face_clip_encoder.pt"
DOWNLOAD_CHOICE = f"download {ENCODER_FILE} from {OFFICIAL_REPO} ({OFFICIAL_FILES[ENCODER_FILE][1]})"
MAX_RESOLUTION = 16384
MAX_PROMPTS = 64  # one batch; more is almost surely a paste mistake with "one prompt per line"


def register_model_folder() -> None:
    """models/faceclip, with extensions (a new folder name gets none, and its dropdown stays empty).

    Keeps paths a user gave for `faceclip` in extra_model_paths.yaml, which the host reads first.
    """
    folder_paths = host.folder_paths()
    if folder_paths is None:  # imported outside ComfyUI (tests, scripts): there is no folder table to fill
        return

    default = str(Path(folder_paths.models_dir) / MODEL_FOLDER)
    paths, extensions = folder_paths.folder_names_and_paths.get(MODEL_FOLDER, ([], set()))
    folder_paths.folder_names_and_paths[MODEL_FOLDER] = (
        list(paths) + ([default] if default not in paths else []),
        set(extensions) | MODEL_EXTENSIONS,
    )


def encoder_choices() -> list[str]:
    folder_paths = host.folder_paths()
    files = folder_paths.get_filename_list(MODEL_FOLDER) if folder_paths else []
    return files + ([DOWNLOAD_CHOICE] if not any(Path(f).name == ENCODER_FILE for f in files) else [])


class FaceCLIPModel:
    """The FACECLIP value: the encoder wrapped in a ModelPatcher, so the host loads it to the GPU when used,
    offloads it after, and streams its weights layer by layer in low-VRAM mode."""

    def __init__(self, encoder: FaceCLIPEncoder, load_device: torch.device, offload_device: torch.device,
                 compute_dtype: torch.dtype, name: str):
        import comfy.model_patcher

        self.patcher = comfy.model_patcher.ModelPatcher(encoder, load_device=load_device, offload_device=offload_device)
        self.compute_dtype = compute_dtype
        self.name = name

    @property
    def encoder(self) -> FaceCLIPEncoder:
        return self.patcher.model

    @staticmethod
    def average(features: Any) -> Any:
        """Several reference faces -> one, whose features are their average (several photos of one person)."""
        return features.mean()

    def encode(self, crops: torch.Tensor | None, prompts: list[str], face_index: list[int | None], average: bool
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(context, pooled) on the host's intermediate device, in float32 as the host's own encoders return."""
        import comfy.model_management as mm

        mm.load_models_gpu([self.patcher])
        encoder = self.encoder
        encoder.execution_device, encoder.execution_dtype = self.patcher.load_device, self.compute_dtype
        with torch.inference_mode():
            features = None if crops is None else encoder.encode_faces(crops)
            if features is not None and average:
                features = self.average(features)
            encoder.warn_truncated(prompts, face_index)
            context, pooled = encoder(features, prompts, face_index)
        out = mm.intermediate_device()
        return context.to(out, torch.float32), pooled.to(out, torch.float32)


def auto_weight_dtype(device: torch.device) -> torch.dtype:
    """bf16 where the device has it (the official code runs FaceCLIP in bf16, and fp16's range can
    overflow in the 32-layer G tower), else the host's choice for text encoders."""
    import comfy.model_management as mm

    return torch.bfloat16 if mm.should_use_bf16(device) else mm.text_encoder_dtype(device)


def compute_dtype(weight_dtype: torch.dtype, device: torch.device) -> torch.dtype:
    """CPUs compute fp32 fastest; GPUs compute in the stored 16/32-bit dtype, and in fp16 for fp8 storage
    (the host's --fp8_e4m3fn-text-enc), which the casting layers widen layer by layer."""
    if torch.device(device).type == "cpu":
        return torch.float32
    return weight_dtype if weight_dtype in (torch.float16, torch.bfloat16, torch.float32) else torch.float16


class FaceCLIPLoader:
    DESCRIPTION = (
        "Loads the FaceCLIP encoder, which replaces SDXL's text encoders: it turns a face and a prompt into "
        "SDXL conditioning. Use it with the FaceCLIP SDXL UNet (models/unet) and an SDXL VAE."
    )
    RETURN_TYPES = ("FACECLIP",)
    OUTPUT_TOOLTIPS = ("The FaceCLIP encoder, for FaceCLIP Text Encode (SDXL).",)
    FUNCTION = "load"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "encoder_name": (encoder_choices(), {
                    "tooltip": f"A file in models/{MODEL_FOLDER}: the official {ENCODER_FILE} or a converted .safetensors. "
                               "The download entry fetches the official file there once (3.15 GB)."}),
                "dtype": (["auto"] + sorted(DTYPES), {
                    "default": "auto",
                    "tooltip": "Weight precision. auto: bf16 where the GPU has it (as the official code), else "
                               "the host's text-encoder choice. fp32 gives the reference numbers and twice the memory."}),
            }
        }

    def load(self, encoder_name: str, dtype: str):
        import comfy.model_management as mm
        import comfy.ops
        import comfy.utils
        import folder_paths

        from faceclip_core.encoders.sdxl.loader import load_encoder

        if encoder_name == DOWNLOAD_CHOICE:
            bar = comfy.utils.ProgressBar(100)
            dest = folder_paths.get_folder_paths(MODEL_FOLDER)[0]
            path = download_official(ENCODER_FILE, dest, progress=lambda done, total: bar.update_absolute(done * 100 // max(total, 1)))
        else:
            path = folder_paths.get_full_path_or_raise(MODEL_FOLDER, encoder_name)
        load_device, offload_device = mm.text_encoder_device(), mm.text_encoder_offload_device()
        weight_dtype = auto_weight_dtype(load_device) if dtype == "auto" else DTYPES[dtype]
        # host casting layers: weights stay where the ModelPatcher puts them and are cast at use
        encoder = load_encoder(path, device=offload_device, dtype=weight_dtype, ops=comfy.ops.manual_cast)
        return (FaceCLIPModel(encoder, load_device, offload_device, compute_dtype(weight_dtype, load_device), Path(path).name),)


def faces_to_crops(faces: list[Face]) -> torch.Tensor:
    """FACE (one picked face per reference image) -> (F, 448, 448, 3) float crops in [0, 1]."""
    if not isinstance(faces, list) or not faces or not all(isinstance(f, Face) for f in faces):
        raise UsageError(
            "The face input is not a FACE from 'FaceCLIP Detect Face' "
            f"(got {type(faces).__name__}). Connect a Detect Face node, or leave the input empty for no face."
        )
    return to_image_batch([f.crop for f in faces])


def check_conditioning(context: torch.Tensor, pooled: torch.Tensor, rows: int, *, context_shape: tuple[int, int] = (77, 2048),
                       pooled_width: int = 1280, encoder: str = "FaceCLIP", model: str = "SDXL") -> None:
    """What KSampler's path for `model` will read: fail here, with the cause, rather than deep in the sampler."""
    if context.shape != (rows, *context_shape) or pooled.shape != (rows, pooled_width):
        raise UsageError(
            f"The {encoder} encoder gave context {tuple(context.shape)} and pooled {tuple(pooled.shape)}, "
            f"but {model} needs {(rows, *context_shape)} and {(rows, pooled_width)}: load the official {encoder} encoder, "
            "not a test-size one."
        )
    if not (torch.isfinite(context).all() and torch.isfinite(pooled).all()):
        raise UsageError(
            f"The {encoder} encoder produced NaN or infinite values. With dtype fp16 on this device try bf16 or fp32 "
            f"in {encoder} Loader; if it persists, the weights file is damaged: download it again."
        )


def split_prompts(text: str, one_per_line: bool) -> list[str]:
    prompts = [line.strip() for line in text.splitlines() if line.strip()] if one_per_line else [text]
    if not prompts:
        raise UsageError("'one prompt per line' is on, but the text has no non-empty line: write at least one prompt.")
    if len(prompts) > MAX_PROMPTS:
        raise UsageError(f"{len(prompts)} prompts in one batch (at most {MAX_PROMPTS}): split the text over several nodes.")
    return prompts


def encode_prompts(model: FaceCLIPModel, text: str, multiple_faces: str, one_prompt_per_line: bool,
                   face: list[Face] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The Text Encode nodes' common part: (context, pooled), one row per prompt, every row with the reference face
    (the first, or all averaged) or, without one, the no-face path."""
    prompts = split_prompts(text, one_prompt_per_line)
    crops = None
    if face is not None:
        crops = faces_to_crops(face)
        if multiple_faces == "first":
            crops = crops[:1]
    face_index = [None if crops is None else 0] * len(prompts)
    return model.encode(crops, prompts, face_index, average=multiple_faces == "average")


class FaceCLIPTextEncodeSDXL:
    DESCRIPTION = (
        "Encodes a prompt, and a reference face if one is connected, into SDXL conditioning with FaceCLIP. "
        "Without a face it encodes the no-face path: use that for the negative prompt, as the official pipeline does."
    )
    RETURN_TYPES = ("CONDITIONING",)
    OUTPUT_TOOLTIPS = ("SDXL conditioning (context 77x2048 per prompt, pooled output and size fields).",)
    FUNCTION = "encode"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls):
        size = {"min": 0, "max": MAX_RESOLUTION, "step": 8}
        return {
            "required": {
                "faceclip": ("FACECLIP", {"tooltip": "From FaceCLIP Loader."}),
                "text": ("STRING", {"multiline": True, "dynamicPrompts": True,
                                    "tooltip": "The prompt. With a face, 'Photo of a id person.' is put in front of it for you."}),
                "width": ("INT", {"default": 1024, **size, "tooltip": "SDXL size conditioning: original image width."}),
                "height": ("INT", {"default": 1024, **size, "tooltip": "SDXL size conditioning: original image height."}),
                "crop_w": ("INT", {"default": 0, **size, "tooltip": "SDXL size conditioning: crop left (0 = no crop)."}),
                "crop_h": ("INT", {"default": 0, **size, "tooltip": "SDXL size conditioning: crop top (0 = no crop)."}),
                "target_width": ("INT", {"default": 1024, **size, "tooltip": "SDXL size conditioning: target width."}),
                "target_height": ("INT", {"default": 1024, **size, "tooltip": "SDXL size conditioning: target height."}),
                "multiple_faces": (["first", "average"], {
                    "default": "first",
                    "tooltip": "With several reference faces: use the first, or average their identity features "
                               "(several photos of one person)."}),
                "one_prompt_per_line": ("BOOLEAN", {
                    "default": False,
                    "tooltip": "Each non-empty line is its own prompt, all encoded as one batch: pair it with a latent "
                               "batch of the same size to get one image per prompt."}),
            },
            "optional": {
                "face": ("FACE", {"tooltip": "From FaceCLIP Detect Face. Leave empty for the no-face (negative) path."}),
            },
        }

    def encode(self, faceclip: FaceCLIPModel, text: str, width: int, height: int, crop_w: int, crop_h: int,
               target_width: int, target_height: int, multiple_faces: str, one_prompt_per_line: bool,
               face: list[Face] | None = None):
        if not isinstance(faceclip, FaceCLIPModel):
            raise UsageError(f"The faceclip input must come from FaceCLIP Loader (got {type(faceclip).__name__}).")
        context, pooled = encode_prompts(faceclip, text, multiple_faces, one_prompt_per_line, face)
        check_conditioning(context, pooled, len(context))
        sizes = {"width": width, "height": height, "crop_w": crop_w, "crop_h": crop_h,
                 "target_width": target_width, "target_height": target_height}
        return ([[context, {"pooled_output": pooled, **sizes}]],)


NODE_CLASS_MAPPINGS: dict[str, Any] = {
    "FaceCLIPLoader": FaceCLIPLoader,
    "FaceCLIPTextEncodeSDXL": FaceCLIPTextEncodeSDXL,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FaceCLIPLoader": "FaceCLIP Loader",
    "FaceCLIPTextEncodeSDXL": "FaceCLIP Text Encode (SDXL)",
}
