"""Reading weights files of any model without trusting them: `.pt`/`.pth` (torch.save) and `.safetensors`.

Every failure is one CheckpointError naming the file and what it looks like; what the user should do about it
depends on the file, so each caller passes its own `Advice` (where a good copy comes from, what the file is called).
"""
from __future__ import annotations

import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from ..errors import CheckpointError

CONFIG_METADATA_KEY = "faceclip_config"
_SHOWN_KEYS = 5

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Advice:
    """What to tell a user about a bad file of one kind; each sentence ends the error it belongs to."""

    what: str  # the file's role, e.g. "the FaceCLIP encoder"
    source: str  # where a good copy comes from (an address, or the folder users take it from)
    in_folder: str  # what to give instead of a folder, e.g. "the encoder file inside it (face_clip_encoder.pt ...)"
    fetch: str = ""  # how to download it, appended to the Git LFS advice, e.g. ", e.g. with huggingface_hub"

    @property
    def download_again(self) -> str:
        return f"Download it again from {self.source}."

    def fail(self, path: Path, problem: str, fix: str | None = None) -> CheckpointError:
        return CheckpointError(f"{path}: {problem} {self.download_again if fix is None else fix}")


def file_kind(path: Path) -> str:
    """'zip' (torch.save), 'pickle' (legacy torch.save), 'safetensors', 'lfs-pointer' or 'unknown', from the bytes."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80":
        return "pickle"
    if head.startswith(b"version https://git-lfs"):
        return "lfs-pointer"
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and header_len < os.path.getsize(path):
            return "safetensors"
    return "unknown"


def _load_torch(path: Path, kind: str, advice: Advice) -> tuple[StateDict, dict[str, str]]:
    try:
        # mmap: the 3 GB release is paged in as tensors are used, not read up front
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=kind == "zip")
    except pickle.UnpicklingError as exc:
        raise advice.fail(
            path,
            "contains pickled Python objects other than tensors, and loading it would run code from the file "
            f"(refused; torch said: {str(exc).splitlines()[0]}).",
            f"Use {advice.what} from {advice.source}, or a .safetensors file.",
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise advice.fail(path, f"is truncated or corrupt ({path.stat().st_size:,} bytes; torch said: {str(exc).splitlines()[0]}).") from exc
    # common wrappers around a state dict
    for wrapper_key in ("state_dict", "module"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper_key), dict):
            obj = obj[wrapper_key]
    metadata = {}
    if isinstance(obj, dict) and isinstance(obj.get(CONFIG_METADATA_KEY), str):
        metadata[CONFIG_METADATA_KEY] = obj.pop(CONFIG_METADATA_KEY)  # a non-official size says what it is
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise advice.fail(path, f"holds a {type(obj).__name__}, not a dictionary of tensors (a state dict).")
    return obj, metadata


def _load_safetensors(path: Path, advice: Advice) -> tuple[StateDict, dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise advice.fail(path, f"is truncated or corrupt ({path.stat().st_size:,} bytes; safetensors said: {exc}).") from exc


def header_metadata(path: Path) -> dict[str, str]:
    """A safetensors file's metadata, read from its header alone; {} when unreadable (read_checkpoint then says why)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, RuntimeError):
        return {}


def read_checkpoint(path: str | os.PathLike, advice: Advice) -> tuple[StateDict, dict[str, str]]:
    """All tensors of a `.pt`/`.pth`/`.safetensors` file and its metadata; never unpickles code. Errors end with
    `advice`'s sentence for what went wrong."""
    path = Path(path)
    if path.is_dir():
        raise advice.fail(path, "is a folder, not a weights file.", f"Give the path of {advice.in_folder}.")
    if not path.is_file():
        raise advice.fail(path, "does not exist.", f"Put {advice.what} there; it is published at {advice.source}.")
    kind = file_kind(path)
    if kind == "lfs-pointer":
        raise advice.fail(path, "is a Git LFS pointer (a small text file), not the weights: the download stopped at the pointer.",
                          f"Download the real file from {advice.source}{advice.fetch}.")
    if kind == "safetensors":
        return _load_safetensors(path, advice)
    if kind in ("zip", "pickle"):
        return _load_torch(path, kind, advice)
    raise advice.fail(path, f"is neither a PyTorch checkpoint nor a safetensors file ({path.stat().st_size:,} bytes).")


def describe_keys(keys: list[str]) -> str:
    """A guess at what a state dict is, from its key names, for error messages."""
    def has(fragment: str) -> bool:
        return any(fragment in k for k in keys)

    if has("face_clip_l.") or has("face_clip_g."):
        return "a FaceCLIP encoder"
    if has("encoder_2.t5_encoder."):
        return "FaceCLIP's FaceT5 encoder for FLUX (load it with the FaceT5 Loader)"
    if has("conditioner.embedders."):
        return "a full SDXL checkpoint (it belongs in models/checkpoints)"
    if has("down_blocks.") and has("mid_block."):
        return "a UNet in diffusers layout, e.g. FaceCLIP's unet.pt (it belongs in models/unet)"
    if has("input_blocks.") and has("middle_block."):
        return "a Stable Diffusion UNet (it belongs in models/unet or models/checkpoints)"
    if has("encoder.down.") and has("decoder.up."):
        return "a VAE (it belongs in models/vae)"
    if has("text_model.encoder.layers.") or has("transformer.resblocks."):
        return "a CLIP text encoder (it belongs in models/clip)"
    if has("lora_"):
        return "a LoRA (it belongs in models/loras)"
    return f"an unknown model of {len(keys)} tensors"


def shape_errors(state: StateDict, expected: dict[str, torch.Size]) -> list[str]:
    """Missing, unexpected and wrong-shape keys of `state` against `expected`, as lines for an error (both encoders)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v)})" for k, v in expected.items() if k in state and state[k].shape != v]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            more = f" and {len(items) - _SHOWN_KEYS} more" if len(items) > _SHOWN_KEYS else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:_SHOWN_KEYS])}{more}")
    return problems


def aligned(tensor: torch.Tensor) -> torch.Tensor:
    """safetensors packs tensors without padding; CPU kernels take other paths (other rounding) on
    unaligned data, so outputs would differ in the last bit from the same weights loaded elsewhere."""
    return tensor if tensor.data_ptr() % 64 == 0 else tensor.clone()
