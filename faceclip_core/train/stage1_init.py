"""Where stage 1 starts: a whole released encoder (fine-tuning), or the base towers with new fusion layers."""
from __future__ import annotations

from pathlib import Path

import torch

from ..encoders.sdxl.config import OFFICIAL, tiny_config
from ..errors import CheckpointError, UsageError
from ..files.weights import read_checkpoint
from ..encoders.sdxl.loader import load_encoder
from ..encoders.sdxl.model import FaceCLIPEncoder
from .config import Stage1Model, run_file_advice

ARCHITECTURES = {"official": lambda: OFFICIAL, "tiny": tiny_config}
# the open_clip text tower tensors a FaceCLIP branch shares names with (its logit_scale is FaceCLIP's own)
TEXT_TOWER_PREFIXES = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.", "text_projection")


def _load_part(module: torch.nn.Module, path: str, keep: tuple[str, ...] | None, what: str, key: str) -> None:
    raw, _ = read_checkpoint(path, run_file_advice(what, key))
    state = {k: v.float() for k, v in raw.items() if keep is None or k.startswith(keep)}
    expected = {k for k in module.state_dict() if keep is None or k.startswith(keep)}
    missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or (keep is None and extra):
        raise CheckpointError(
            f"{path} is not {what}: {len(missing)} tensors missing (e.g. {missing[:2]}), {len(extra)} unexpected "
            f"(e.g. {extra[:2]}). Check the [model] paths and model.architecture."
        )
    try:
        module.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not fit {what}: {str(exc).splitlines()[-1].strip()}") from exc


def encoder_from_file(path: str, architecture: str) -> FaceCLIPEncoder:
    """A whole encoder file in fp32 on the CPU: a .safetensors carries its architecture, the official .pt does not."""
    return load_encoder(path, config=None if path.endswith(".safetensors") else ARCHITECTURES[architecture]())


def initial_encoder(model: Stage1Model, seed: int) -> FaceCLIPEncoder:
    """The encoder stage 1 starts from, in fp32 on the CPU."""
    if model.encoder:
        return encoder_from_file(model.encoder, model.architecture)
    base = {"model.text_l": model.text_l, "model.text_g": model.text_g, "model.face_vit": model.face_vit}
    absent = [key for key, value in base.items() if not value]
    if absent:
        raise UsageError(
            "Stage 1 needs a starting point: set [model].encoder to a FaceCLIP encoder (fine-tuning), or all of "
            f"model.text_l, model.text_g and model.face_vit (base towers); missing: {', '.join(absent)}."
        )
    torch.manual_seed(seed)
    encoder = FaceCLIPEncoder(ARCHITECTURES[model.architecture]())
    _load_part(encoder.face_clip_l, model.text_l, TEXT_TOWER_PREFIXES, "an open_clip text tower for the L branch", "model.text_l")
    _load_part(encoder.face_clip_g, model.text_g, TEXT_TOWER_PREFIXES, "an open_clip text tower for the G branch", "model.text_g")
    for branch in (encoder.face_clip_l, encoder.face_clip_g):
        _load_part(branch.face_encoder, model.face_vit, None, "an arcface_torch ViT face recogniser", "model.face_vit")
    return encoder


def check_paths(model: Stage1Model, branches: list[str], image_weight: float) -> None:
    for name in branches:
        if image_weight > 0 and not getattr(model, f"image_tower_{name}"):
            raise UsageError(
                f"loss.image_weight is {image_weight} but model.image_tower_{name} is not set: give the open_clip "
                f"checkpoint of the {name.upper()} branch's CLIP model, or set loss.image_weight = 0."
            )
    for key in ("encoder", "text_l", "text_g", "face_vit", "image_tower_l", "image_tower_g"):
        value = getattr(model, key)
        if value and not Path(value).is_file():
            raise UsageError(f"model.{key} = {value} does not exist. Put the file there or fix the path in the config.")
