"""Reading and writing FaceCLIP encoder weights: the official `.pt` and our `.safetensors` with the config inside.

Everything here fails with one CheckpointError that names the file, what it looks like, what was
expected and the first offending keys, instead of a traceback from deep inside torch.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors.torch import save_file

from ...errors import CheckpointError
from ...files.atomic import atomic_path
from ...files.weights import (CONFIG_METADATA_KEY, Advice, StateDict, describe_keys, file_kind, header_metadata,
                              read_checkpoint, shape_errors)
from .config import OFFICIAL, FaceCLIPConfig

OFFICIAL_PREFIX = "model."
OFFICIAL_SOURCE = "https://huggingface.co/ByteDance/FaceCLIP (model/face_clip_encoder.pt)"
ADVICE = Advice("the FaceCLIP encoder", OFFICIAL_SOURCE,
                "the encoder file inside it (face_clip_encoder.pt or a .safetensors)",
                ", e.g. with huggingface_hub or the FaceCLIP Loader's download option")


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
            raise ADVICE.fail(path, f"states an architecture that cannot be built: metadata '{CONFIG_METADATA_KEY}' field {exc}.",
                        "The file is damaged or not made by this pack: convert the official .pt again with "
                        "`python -m faceclip_core convert`.") from exc
    return OFFICIAL


def read_encoder_state(
    path: str | os.PathLike, config: FaceCLIPConfig | None = None
) -> tuple[StateDict, FaceCLIPConfig]:
    """The encoder's state dict (official key names) and architecture, checked key for key and shape for shape."""
    path = Path(path)
    if config is None and path.is_file() and file_kind(path) == "safetensors":
        config = config_of(path, header_metadata(path), None)  # checked from the header, before any tensor is read
    raw, metadata = read_checkpoint(path, ADVICE)
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
