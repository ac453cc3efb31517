"""What both encoder nodes share (FaceCLIP-SDXL and FaceT5): the models/faceclip folder, the encoder under the
host's model management, compute dtype, prompt splitting, face crops and the conditioning checks.

Imports without ComfyUI (host modules are imported inside functions), so CI tests it.
"""
from __future__ import annotations

from pathlib import Path

import torch

from faceclip_core.encoders.base import PlacedEncoder
from faceclip_core.errors import UsageError
from faceclip_core.face import Face

from . import host
from .checks import require_faces
from .face_logic import to_image_batch
from .face_rows import plan_rows

MODEL_FOLDER = "faceclip"
MODEL_EXTENSIONS = {".safetensors", ".pt", ".pth", ".bin"}
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


class EncoderModel:
    """A FACECLIP or FACET5 value: the encoder wrapped in a ModelPatcher, so the host loads it to the GPU when used,
    offloads it after, and streams its weights layer by layer in low-VRAM mode."""

    def __init__(self, encoder: PlacedEncoder, load_device: torch.device, offload_device: torch.device,
                 compute_dtype: torch.dtype, name: str):
        import comfy.model_patcher

        self.patcher = comfy.model_patcher.ModelPatcher(encoder, load_device=load_device, offload_device=offload_device)
        self.compute_dtype = compute_dtype
        self.name = name

    @property
    def encoder(self) -> PlacedEncoder:
        return self.patcher.model

    def encode(self, crops: torch.Tensor | None, prompts: list[str], face_index: list[int | None], average: bool
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(context, pooled) on the host's intermediate device, in float32 as the host's own encoders return."""
        import comfy.model_management as mm

        mm.load_models_gpu([self.patcher])
        encoder = self.encoder
        encoder.execution_device, encoder.execution_dtype = self.patcher.load_device, self.compute_dtype
        with torch.inference_mode():
            features = None if crops is None else encoder.cached_faces(crops)  # the same face as last run: reused
            if features is not None and average:
                features = encoder.mean_of_faces(features)
            encoder.warn_truncated(prompts, face_index)
            context, pooled = encoder(features, prompts, face_index)
        out = mm.intermediate_device()
        return context.to(out, torch.float32), pooled.to(out, torch.float32)


def compute_dtype(weight_dtype: torch.dtype, device: torch.device) -> torch.dtype:
    """CPUs compute fp32 fastest; GPUs compute in the stored 16/32-bit dtype, and in fp16 for fp8 storage
    (the host's --fp8_e4m3fn-text-enc), which the casting layers widen layer by layer."""
    if torch.device(device).type == "cpu":
        return torch.float32
    return weight_dtype if weight_dtype in (torch.float16, torch.bfloat16, torch.float32) else torch.float16


def faces_to_crops(faces: list[Face], node: str = "FaceCLIP Text Encode (SDXL)") -> torch.Tensor:
    """FACE (one picked face per reference image) -> (F, 448, 448, 3) float crops in [0, 1]."""
    return to_image_batch([f.crop for f in require_faces(faces, node, "face")])


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


def encode_prompts(model: EncoderModel, text: str, multiple_faces: str, one_prompt_per_line: bool,
                   face: list[Face | None] | None, node: str = "FaceCLIP Text Encode (SDXL)", on_no_face: str = "error"
                   ) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The Text Encode nodes' common part: (context, pooled, report), one row per prompt (see face_rows.plan_rows
    for which face each row uses); a row without a face takes the no-face path."""
    plan = plan_rows(face, split_prompts(text, one_prompt_per_line), multiple_faces, on_no_face, node)
    crops = None if plan.faces is None else faces_to_crops(plan.faces, node)
    context, pooled = model.encode(crops, plan.prompts, plan.face_index, average=multiple_faces == "average")
    return context, pooled, plan.report
