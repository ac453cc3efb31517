"""Reading FaceT5 weights: the release's `.pt` (or our `.safetensors` of it) and, optionally, a stock T5-XXL.

The release stores no architecture: it is read from the tensors' names and shapes (config.py), then
every key and shape is checked against the model built for it, so a wrong file fails with one
CheckpointError naming what it looks like and what is missing, not a traceback.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import torch

from ...errors import CheckpointError
from ...files.atomic import atomic_path
from ...files.weights import Advice, StateDict, describe_keys, read_checkpoint, shape_errors
from .config import T5_PREFIX, FaceT5Config, config_from_shapes, is_facet5

SOURCE = "https://huggingface.co/ByteDance/FaceCLIP (model/face_t5_encoder.pt)"
ADVICE = Advice("the FaceT5 encoder", SOURCE, "the FaceT5 file inside it (face_t5_encoder.pt or a .safetensors)",
                ", e.g. with huggingface_hub")
T5XXL_SOURCE = "https://huggingface.co/comfyanonymous/flux_text_encoders (t5xxl_fp16.safetensors)"
T5XXL_ADVICE = Advice("a T5-XXL text encoder such as t5xxl_fp16.safetensors", T5XXL_SOURCE,
                      "the t5xxl_*.safetensors file inside it")


def expected_shapes(config: FaceT5Config) -> dict[str, torch.Size]:
    """Every tensor name and shape of the FaceT5 encoder for `config`, without allocating it."""
    from .model import FaceT5Encoder

    with torch.device("meta"):
        return {k: v.shape for k, v in FaceT5Encoder(config).state_dict().items()}


def check_state(state: StateDict, config: FaceT5Config, where: str) -> None:
    expected = expected_shapes(config)
    problems = shape_errors(state, expected)
    if problems:
        raise CheckpointError(
            f"{where} is not a complete FaceT5 encoder: " + "; ".join(problems)
            + f". Download face_t5_encoder.pt again from {SOURCE}."
        )


def read_facet5_state(path: str | os.PathLike) -> tuple[StateDict, FaceT5Config]:
    """The state dict (release key names, memory-mapped where the format allows) and its architecture."""
    path = Path(path)
    state, _metadata = read_checkpoint(path, ADVICE)
    if not is_facet5(list(state)):
        raise CheckpointError(
            f"{path} is not a FaceT5 encoder: it looks like {describe_keys(list(state))} ({len(state)} tensors). "
            f"FaceT5 is face_t5_encoder.pt from {SOURCE}."
        )
    config = config_from_shapes({k: v.shape for k, v in state.items()}, str(path))
    check_state(state, config, str(path))
    return state, config


def save_facet5(state: StateDict, path: str | os.PathLike, dtype: torch.dtype | None = None,
                inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Write a `.safetensors` with the release's key names; floats cast to `dtype` when given; `inputs` are never
    overwritten (atomic_path)."""
    from safetensors.torch import save_file

    tensors = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous() for k, v in state.items()}
    with atomic_path(path, inputs) as partial:
        save_file(tensors, str(partial), metadata={"format": "pt", "faceclip_kind": "facet5"})


# ComfyUI's / transformers' T5EncoderModel names -> the release's flash-T5 names (inside t5_encoder.)
_T5XXL_RULES = [
    (r"shared\.weight", "embed_tokens.weight"),
    (r"encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.q\.weight", r"block.\1.self_attention_layer.self_attention.Wq.weight"),
    (r"encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.k\.weight", r"block.\1.self_attention_layer.self_attention.Wk.weight"),
    (r"encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.v\.weight", r"block.\1.self_attention_layer.self_attention.Wv.weight"),
    (r"encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.o\.weight", r"block.\1.self_attention_layer.self_attention.o.weight"),
    (r"encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.relative_attention_bias\.weight",
     r"block.\1.self_attention_layer.self_attention.pe_encoding.relative_attention_bias.weight"),
    (r"encoder\.block\.(\d+)\.layer\.0\.layer_norm\.weight", r"block.\1.self_attention_layer.layer_norm.weight"),
    (r"encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_0\.weight", r"block.\1.ff_layer.act.wi_0.weight"),
    (r"encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_1\.weight", r"block.\1.ff_layer.act.wi_1.weight"),
    (r"encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wo\.weight", r"block.\1.ff_layer.wo.weight"),
    (r"encoder\.block\.(\d+)\.layer\.1\.layer_norm\.weight", r"block.\1.ff_layer.layer_norm.weight"),
    (r"encoder\.final_layer_norm\.weight", "final_layer_norm.weight"),
]
# present in some T5 files and not part of the encoder FaceT5 runs (decoder, LM head, the tied copy)
_T5XXL_IGNORED = re.compile(r"(decoder\.|lm_head\.|encoder\.embed_tokens\.weight$)")


def t5xxl_to_release(key: str) -> str | None:
    """The release's name (under encoder_2.t5_encoder.) for a T5-XXL key in ComfyUI's layout, or None."""
    for pattern, replacement in _T5XXL_RULES:
        if re.fullmatch(pattern, key):
            return T5_PREFIX + re.sub(pattern, replacement, key)
    return None


def read_t5xxl_state(path: str | os.PathLike, config: FaceT5Config) -> StateDict:
    """The T5 part of FaceT5 taken from a stock T5-XXL encoder file (ComfyUI's `t5xxl_*.safetensors` layout).

    Every tensor of the FaceT5 T5 must be there with the FaceT5 file's shape. Both layouts compute the
    same function (T5-v1.1: unscaled attention, block-0 relative bias shared by all blocks, gated tanh
    GELU, RMSNorm), so the mapping is exact. Whether the values equal the release's frozen T5 is a
    property of the two real files, which `python -m faceclip_core compare-t5` measures.
    """
    path = Path(path)
    raw, metadata = read_checkpoint(path, T5XXL_ADVICE)
    if any(k.endswith((".scale_weight", ".scale_input")) or k == "scaled_fp8" for k in raw):
        raise CheckpointError(
            f"{path} is a scaled-fp8 T5 (its weights need per-tensor scales this loader does not apply). "
            "Use t5xxl_fp16.safetensors or t5xxl_fp8_e4m3fn.safetensors."
        )
    state: StateDict = {}
    unknown = []
    for key, tensor in raw.items():
        name = t5xxl_to_release(key)
        if name is not None:
            state[name] = tensor
        elif not _T5XXL_IGNORED.match(key):
            unknown.append(key)
    expected = {k: v for k, v in expected_shapes(config).items() if k.startswith(T5_PREFIX)}
    problems = shape_errors(state, expected)
    if unknown or problems:
        shown = f"{len(unknown)} keys of another model (e.g. {', '.join(unknown[:3])}); " if unknown else ""
        raise CheckpointError(
            f"{path} is not a T5-XXL encoder matching this FaceT5 file: {shown}" + "; ".join(problems)
            + ". Pick ComfyUI's t5xxl_fp16.safetensors (or t5xxl_fp8_e4m3fn) from models/text_encoders, or none."
        )
    return state


def t5_differences(facet5_state: StateDict, t5_state: StateDict) -> dict[str, float]:
    """Per T5 tensor, the largest |release - stock| relative to the tensor's largest magnitude.

    0 everywhere means the stock file holds exactly the release's T5; differences around the storage
    precision (bf16: 4e-3, fp8: 6e-2) are rounding; larger ones mean the release's T5 was changed.
    """
    result = {}
    for key, stock in t5_state.items():
        release = facet5_state[key].float()
        scale = release.abs().max().clamp(min=1e-12)
        result[key] = ((release - stock.float()).abs().max() / scale).item()
    return result
