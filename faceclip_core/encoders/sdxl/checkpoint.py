"""Reading and writing FaceCLIP encoder weights: the official `.pt` and our `.safetensors` with the config inside.

Everything here fails with one CheckpointError that names the file, what it looks like, what was
expected and the first offending keys, instead of a traceback from deep inside torch.
"""
from __future__ import annotations

import os
import pickle
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ...files.atomic import atomic_path
from .config import OFFICIAL, FaceCLIPConfig
from ...errors import CheckpointError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
CONFIG_METADATA_KEY = "faceclip_config"
OFFICIAL_PREFIX = "model."
OFFICIAL_SOURCE = "https://huggingface.co/ByteDance/FaceCLIP (model/face_clip_encoder.pt)"
_SHOWN_KEYS = 5

StateDict = dict[str, torch.Tensor]


def _fail(path: Path, problem: str, fix: str = f"Download it again from {OFFICIAL_SOURCE}.") -> CheckpointError:
    return CheckpointError(f"{path}: {problem} {fix}")


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


def _load_torch(path: Path, kind: str) -> tuple[StateDict, dict[str, str]]:
    try:
        # mmap: the 3 GB release is paged in as tensors are used, not read up front
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=kind == "zip")
    except pickle.UnpicklingError as exc:
        raise _fail(
            path,
            "contains pickled Python objects other than tensors, and loading it would run code from the file "
            f"(refused; torch said: {str(exc).splitlines()[0]}).",
            f"Use the official weights from {OFFICIAL_SOURCE}, or a .safetensors file.",
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise _fail(path, f"is truncated or corrupt ({path.stat().st_size:,} bytes; torch said: {str(exc).splitlines()[0]}).") from exc
    # common wrappers around a state dict
    for wrapper_key in ("state_dict", "module"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper_key), dict):
            obj = obj[wrapper_key]
    metadata = {}
    if isinstance(obj, dict) and isinstance(obj.get(CONFIG_METADATA_KEY), str):
        metadata[CONFIG_METADATA_KEY] = obj.pop(CONFIG_METADATA_KEY)  # a non-official size says what it is
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise _fail(path, f"holds a {type(obj).__name__}, not a dictionary of tensors (a state dict).")
    return obj, metadata


def _load_safetensors(path: Path) -> tuple[StateDict, dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise _fail(path, f"is truncated or corrupt ({path.stat().st_size:,} bytes; safetensors said: {exc}).") from exc


def _header_metadata(path: Path) -> dict[str, str]:
    """A safetensors file's metadata, read from its header alone; {} when unreadable (read_checkpoint then says why)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, RuntimeError):
        return {}


def read_checkpoint(path: str | os.PathLike) -> tuple[StateDict, dict[str, str]]:
    """All tensors of a `.pt`/`.pth`/`.safetensors` file and its metadata; never unpickles code."""
    path = Path(path)
    if path.is_dir():
        raise _fail(path, "is a folder, not a weights file.", "Give the path of the encoder file inside it (face_clip_encoder.pt or a .safetensors).")
    if not path.is_file():
        raise _fail(path, "does not exist.", f"Put the FaceCLIP encoder there; it is published at {OFFICIAL_SOURCE}.")
    kind = file_kind(path)
    if kind == "lfs-pointer":
        raise _fail(path, "is a Git LFS pointer (a small text file), not the weights: the download stopped at the pointer.",
                    f"Download the real file from {OFFICIAL_SOURCE}, e.g. with huggingface_hub or the FaceCLIP Loader's download option.")
    if kind == "safetensors":
        return _load_safetensors(path)
    if kind in ("zip", "pickle"):
        return _load_torch(path, kind)
    raise _fail(path, f"is neither a PyTorch checkpoint nor a safetensors file ({path.stat().st_size:,} bytes).")


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


def expected_shapes(config: FaceCLIPConfig) -> dict[str, torch.Size]:
    """Every parameter name and shape of the encoder for `config`, without allocating it."""
    from .model import FaceCLIPEncoder

    with torch.device("meta"):
        return {k: v.shape for k, v in FaceCLIPEncoder(config).state_dict().items()}


def config_of(path: Path, metadata: dict[str, str], config: FaceCLIPConfig | None) -> FaceCLIPConfig:
    """The architecture: given by the caller, else the file's metadata, else the official one."""
    if config is not None:
        return config
    if CONFIG_METADATA_KEY in metadata:
        try:
            return FaceCLIPConfig.from_json(metadata[CONFIG_METADATA_KEY])
        except ValueError as exc:  # bad JSON, or InvalidArchitecture naming the field
            raise _fail(path, f"states an architecture that cannot be built: metadata '{CONFIG_METADATA_KEY}' field {exc}.",
                        "The file is damaged or not made by this pack: convert the official .pt again with "
                        "`python -m faceclip_core convert`.") from exc
    return OFFICIAL


def read_encoder_state(
    path: str | os.PathLike, config: FaceCLIPConfig | None = None
) -> tuple[StateDict, FaceCLIPConfig]:
    """The encoder's state dict (official key names) and architecture, checked key for key and shape for shape."""
    path = Path(path)
    if config is None and path.is_file() and file_kind(path) == "safetensors":
        config = config_of(path, _header_metadata(path), None)  # checked from the header, before any tensor is read
    raw, metadata = read_checkpoint(path)
    config = config_of(path, metadata, config)
    # the official loader's renaming, verbatim: it strips 'model.' wherever it occurs
    state = {k.replace(OFFICIAL_PREFIX, ""): v for k, v in raw.items()}
    expected = expected_shapes(config)
    problems = shape_errors(state, expected)
    if problems:
        looks_like = describe_keys(list(raw))
        if looks_like == "a FaceCLIP encoder":
            hint = ("A FaceCLIP encoder of another size? Files written by `python -m faceclip_core convert` or "
                    "save_encoder() carry their architecture in their metadata.")
        elif "belongs in" in looks_like:  # the message already says where that file goes
            hint = f"Give the FaceCLIP encoder ({OFFICIAL_SOURCE}) here instead."
        else:
            hint = f"Put the FaceCLIP encoder ({OFFICIAL_SOURCE}) in this folder instead."
        raise CheckpointError(
            f"{path} is not the expected FaceCLIP encoder: it looks like {looks_like} ({len(raw)} tensors), "
            f"expected the {len(expected)} tensors of FaceCLIP_L_G. " + "; ".join(problems) + f". {hint}"
        )
    return state, config


def save_encoder(state: StateDict, config: FaceCLIPConfig, path: str | os.PathLike, dtype: torch.dtype | None = None,
                 inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Write a `.safetensors` with the architecture in its metadata; floats cast to `dtype` when given.

    Written through atomic_path: an interrupted write never leaves a half file, and `inputs` are never overwritten.
    """
    tensors = {
        k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous() for k, v in state.items()
    }
    with atomic_path(path, inputs) as partial:
        save_file(tensors, str(partial), metadata={CONFIG_METADATA_KEY: config.to_json(), "format": "pt"})


def save_official_encoder(
    state: StateDict, path: str | os.PathLike, dtype: torch.dtype = torch.bfloat16, config: FaceCLIPConfig = OFFICIAL
) -> None:
    """Write the released layout: torch.save of a flat dict, keys prefixed with 'model.', floats in `dtype`.

    A non-official architecture is stored beside the tensors under CONFIG_METADATA_KEY, which the loader reads.
    """
    tensors: dict = {OFFICIAL_PREFIX + k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    if config != OFFICIAL:
        tensors[CONFIG_METADATA_KEY] = config.to_json()
    with atomic_path(path) as partial:
        torch.save(tensors, partial)
