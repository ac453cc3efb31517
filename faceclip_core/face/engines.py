"""Which runtime executes a pack's .onnx models: torch (always there) or onnxruntime (when installed).

Both give the same boxes, landmarks and embeddings (to 1e-4). "auto" is torch on a GPU (where onnxruntime would
need its own CUDA build) and wherever onnxruntime is missing, and onnxruntime on the CPU when it is installed:
there it was faster, and its threads keep their speed on a busy machine; see README, Face analysis, for the timings.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import ModelPackError, UsageError
from .onnx_file import OnnxFormatError
from .runtime import CUDA, _log_once, import_onnxruntime, open_session, resolve_providers, unreadable_model_error

if TYPE_CHECKING:
    import torch

TORCH, ONNXRUNTIME = "torch", "onnxruntime"
RUNTIMES = ("auto", TORCH, ONNXRUNTIME)


def resolve_runtime(runtime: str, providers: str | Sequence[str] = "auto",
                    device: str | torch.device | None = None) -> str:
    """TORCH or ONNXRUNTIME; "auto" is ONNXRUNTIME only for the CPU and where onnxruntime imports."""
    choice = runtime.lower()
    if choice not in RUNTIMES:
        raise UsageError(f"Unknown face-analysis runtime {runtime!r}: use {', '.join(map(repr, RUNTIMES))}.")
    if choice != "auto":
        return choice
    try:
        if torch_device(providers, device).type != "cpu":
            return TORCH
    except UsageError:  # CUDA asked for where torch has none: onnxruntime's GPU build may have it
        return ONNXRUNTIME
    try:
        import_onnxruntime()
    except UsageError:
        return TORCH
    return ONNXRUNTIME


def torch_device(providers: str | Sequence[str] = "auto", device: str | torch.device | None = None) -> torch.device:
    """The torch device for a provider choice: "auto" is CUDA when torch has it; an explicit `device` wins."""
    import torch  # here, so that the command line's --help and argument checks never load torch

    if device is not None:
        return torch.device(device)
    if isinstance(providers, str):
        choice = providers.lower()
        if choice not in ("auto", "cpu", "cuda"):
            raise UsageError(f"Unknown providers {providers!r}: use 'auto', 'cpu' or 'cuda'.")
        wants_cuda = choice == "cuda" or (choice == "auto" and torch.cuda.is_available())
    else:
        wants_cuda = CUDA in providers
    if wants_cuda and not torch.cuda.is_available():
        raise UsageError("providers='cuda' but this torch build sees no CUDA GPU: use providers='auto' or 'cpu'.")
    return torch.device("cuda" if wants_cuda else "cpu")


def model_opener(runtime: str, providers: str | Sequence[str], device: str | torch.device | None) -> Callable[[Path], Any]:
    """A function opening one .onnx file of a pack as a session with onnxruntime's interface, on `runtime`."""
    if runtime == ONNXRUNTIME:
        resolved = resolve_providers(providers)
        return lambda path: open_session(path, resolved)
    target = torch_device(providers, device)
    _log_once(logging.INFO, f"face analysis runs the pack's models in torch on {target}")
    return lambda path: open_torch_session(path, target)


def open_torch_session(model_path: Path, device: torch.device) -> Any:
    """A TorchOnnxSession; an unreadable file or an operator the torch runtime lacks is a ModelPackError."""
    from .torch_session import TorchOnnxSession, UnsupportedOnnxOps

    try:
        return TorchOnnxSession(model_path, device)
    except OnnxFormatError as exc:
        raise unreadable_model_error(model_path, exc, reader="the ONNX reader") from exc
    except UnsupportedOnnxOps as exc:
        raise ModelPackError(
            f"Face model {model_path} uses ONNX operators the torch runtime does not implement: {exc}. "
            "Install onnxruntime (`pip install onnxruntime-gpu` with an NVIDIA GPU, else `pip install onnxruntime`) "
            "and choose the runtime 'onnxruntime' (InsightFace Loader's runtime input, or runtime='onnxruntime')."
        ) from exc
