"""What the FaceCLIP nodes do: the encoder under the host's model management, and face + prompt -> SDXL CONDITIONING.

Imports without ComfyUI (host modules are imported inside functions), so CI tests it; the node declarations are in
faceclip_nodes.py.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from faceclip_core.encoders.sdxl.checkpoint import DTYPES
from faceclip_core.download import OFFICIAL_FILES, OFFICIAL_REPO, download_official
from faceclip_core.errors import UsageError
from faceclip_core.face import Face
from faceclip_core.encoders.sdxl.model import FaceCLIPEncoder

from . import host
from .checks import require_faces
from .face_logic import to_image_batch

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
    # not registered: the host's folder module read by a tool or test that did not import the pack
    registered = folder_paths is not None and MODEL_FOLDER in folder_paths.folder_names_and_paths
    files = folder_paths.get_filename_list(MODEL_FOLDER) if registered else []
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
    weight_dtype = auto_weight_dtype(load_device) if dtype == "auto" else DTYPES[dtype]
    # host casting layers: weights stay where the ModelPatcher puts them and are cast at use
    encoder = load_encoder(path, device=offload_device, dtype=weight_dtype, ops=comfy.ops.manual_cast)
    return FaceCLIPModel(encoder, load_device, offload_device, compute_dtype(weight_dtype, load_device), Path(path).name)


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


def encode_prompts(model: FaceCLIPModel, text: str, multiple_faces: str, one_prompt_per_line: bool,
                   face: list[Face] | None, node: str = "FaceCLIP Text Encode (SDXL)") -> tuple[torch.Tensor, torch.Tensor]:
    """The Text Encode nodes' common part: (context, pooled), one row per prompt, every row with the reference face
    (the first, or all averaged) or, without one, the no-face path."""
    prompts = split_prompts(text, one_prompt_per_line)
    crops = None
    if face is not None:
        crops = faces_to_crops(face, node)
        if multiple_faces == "first":
            crops = crops[:1]
    face_index = [None if crops is None else 0] * len(prompts)
    return model.encode(crops, prompts, face_index, average=multiple_faces == "average")


def encode_conditioning(faceclip: FaceCLIPModel, text: str, sizes: dict[str, int], multiple_faces: str,
                        one_prompt_per_line: bool, face: list[Face] | None) -> list:
    """SDXL CONDITIONING of the prompt(s), with the face when one is given; `sizes` are SDXL's size fields."""
    context, pooled = encode_prompts(faceclip, text, multiple_faces, one_prompt_per_line, face)
    check_conditioning(context, pooled, len(context))
    return [[context, {"pooled_output": pooled, **sizes}]]
