"""onnxruntime: import, execution-provider choice, and sessions that fail with a useful message.

`providers` accepted everywhere: "auto" (CUDA when a working onnxruntime-gpu is present, else CPU),
"cpu", "cuda", or an explicit list of onnxruntime provider names such as ["DmlExecutionProvider"].
"""
from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path
from typing import Any, Sequence

from ..errors import ModelPackError, UsageError

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
_LFS_POINTER_PREFIX = b"version https://git-lfs"
_logged_messages: set[str] = set()


def _log_once(level: int, message: str) -> None:
    # A node may build many sessions; the provider choice and a CUDA fallback are worth saying once.
    if message not in _logged_messages:
        _logged_messages.add(message)
        log.log(level, message)


def import_onnxruntime() -> Any:
    """The onnxruntime module, or a UsageError saying which build to install."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise UsageError(
            "Face analysis needs onnxruntime, which is not installed in this Python. Install exactly one build: "
            "`pip install onnxruntime-gpu` on a machine with an NVIDIA GPU, otherwise `pip install onnxruntime` "
            f"(see README, Troubleshooting). Import error: {exc}"
        ) from exc
    return onnxruntime


def installed_runtime_builds() -> list[str]:
    """Distribution names of the onnxruntime builds pip has installed (two of them overwrite each other's files)."""
    names = set()
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name == "onnxruntime" or name.startswith("onnxruntime-"):
            names.add(name)
    return sorted(names)


def resolve_providers(providers: str | Sequence[str] = "auto") -> list[str]:
    """The provider list to ask onnxruntime for, CPU always last as the fallback."""
    available = import_onnxruntime().get_available_providers()
    if isinstance(providers, str):
        choice = providers.lower()
        if choice == "cpu":
            return [CPU]
        if choice == "cuda":
            if CUDA not in available:
                raise UsageError(
                    f"providers='cuda' but this onnxruntime has no CUDA provider (available: {available}). "
                    "Install onnxruntime-gpu in place of onnxruntime, or use providers='auto'."
                )
            return [CUDA, CPU]
        if choice != "auto":
            raise UsageError(f"Unknown providers {providers!r}: use 'auto', 'cpu', 'cuda' or a list of provider names.")
        if CUDA not in available and "onnxruntime-gpu" in installed_runtime_builds():
            _log_once(logging.WARNING, _shadowed_gpu_build_message())
        return [CUDA, CPU] if CUDA in available else [CPU]
    unknown = [name for name in providers if name not in available]
    if unknown:
        raise UsageError(f"onnxruntime providers {unknown} are not available here (available: {available}).")
    return list(providers) + ([CPU] if CPU not in providers else [])


def _shadowed_gpu_build_message() -> str:
    builds = installed_runtime_builds()
    return (
        f"onnxruntime-gpu is installed but offers no CUDA provider (installed builds: {builds}). When the CPU build "
        "'onnxruntime' is installed too it overwrites the GPU one: run `pip uninstall -y onnxruntime onnxruntime-gpu` "
        "then `pip install onnxruntime-gpu`. Face analysis runs on CPU for now."
    )


def open_session(model_path: Path, providers: Sequence[str]) -> Any:
    """An InferenceSession for one model file of a pack.

    A CUDA provider that cannot start (missing CUDA or cuDNN libraries) falls back to CPU with one
    warning. A file onnxruntime cannot read becomes a ModelPackError naming the file, its size and the fix.
    """
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # onnxruntime's own warnings would repeat what we log once
    # idle threads would busy-wait, taking the cores from torch (and numpy) for whatever runs next
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=list(providers))
    except Exception as exc:  # onnxruntime raises bare Exception subclasses for every failure
        if list(providers) == [CPU]:
            raise unreadable_model_error(model_path, exc) from exc
        try:
            session = ort.InferenceSession(str(model_path), sess_options=options, providers=[CPU])
        except Exception:
            raise unreadable_model_error(model_path, exc) from exc
        _log_once(logging.WARNING, f"onnxruntime could not start {providers[0]} ({exc}); face analysis runs on CPU.")
        return session
    active = session.get_providers()
    if active and active[0] != providers[0]:
        _log_once(logging.WARNING, f"onnxruntime could not start {providers[0]}; face analysis runs on {active[0]}.")
    else:
        _log_once(logging.INFO, f"face analysis uses onnxruntime providers {active}")
    return session


def unreadable_model_error(model_path: Path, cause: Exception, reader: str = "onnxruntime") -> ModelPackError:
    size = model_path.stat().st_size
    with open(model_path, "rb") as file:
        head = file.read(len(_LFS_POINTER_PREFIX))
    what = (
        "It is a Git LFS pointer (a small text file) saved in place of the model"
        if head == _LFS_POINTER_PREFIX
        else "It is truncated or corrupt, typically a download that did not finish"
    )
    return ModelPackError(
        f"Cannot load face model {model_path} ({size:,} bytes). {what}. Download the model pack "
        f"'{model_path.parent.name}' again and replace {model_path.name}. {reader[0].upper() + reader[1:]} said: {cause}"
    )
