"""Run configs: one TOML file per run, read into dataclasses; unknown keys fail with a "did you mean".

Relative paths in a config are taken relative to the config file, so a run folder can be moved whole.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..architecture import read_dataclass
from ..errors import UsageError

if TYPE_CHECKING:
    from ..files.weights import Advice


def run_file_advice(what: str, key: str) -> Advice:
    """What to do about a bad weights file that a run config names under `key` (e.g. model.text_l)."""
    from ..files.weights import Advice  # imports torch, which `prepare --help` must not wait for

    return Advice(what, f"the publisher docs/training.md names for {key}", "the weights file inside it")


@dataclass
class RunSection:
    out: str = "runs/faceclip"  # checkpoints, TensorBoard logs and exports go here
    steps: int = 10000
    batch_size: int = 512  # global: summed over all processes
    seed: int = 0
    precision: str = "bf16"  # autocast dtype on CUDA: "bf16" or "fp32" (fp16 would need loss scaling); master weights stay fp32
    gradient_checkpointing: bool = True
    log_every: int = 10
    save_every: int = 1000
    validate_every: int = 1000
    keep_checkpoints: int = 2
    # How processes share the model: "ddp" (a replica each) or "fsdp" (FSDP2: parameters, gradients and optimiser
    # state sharded; checkpoints resume on any process count). See faceclip_core/train/parallel.py.
    parallel: str = "ddp"


@dataclass
class DataSection:
    train: str = "data/train"  # a folder written by `prepare` (its index.json lists the shards)
    val: str = ""  # held-out identities for the retrieval check; empty = no validation
    # A global batch is cut into `streams` equal slices, each read from its own sequence of shards.
    # Processes own whole streams, so the sample order does not depend on how many processes run.
    streams: int = 8
    prefetch: bool = True  # decode the next batch in a background worker
    # A `pipe:COMMAND` shard in index.json runs COMMAND (without a shell) and reads its output. A dataset from
    # elsewhere could run anything that way, so it is refused unless this is set by someone who trusts the index.
    allow_pipe: bool = False


@dataclass
class OptimSection:
    lr: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    warmup_steps: int = 1000
    schedule: str = "constant"  # after warm-up: "constant" or "cosine" (to 0 at `steps`)
    grad_clip: float = 1.0  # max global grad norm; 0 = off


@dataclass
class Stage1Model:
    # Start from a whole encoder (fine-tuning: the official face_clip_encoder.pt or our .safetensors) ...
    encoder: str = ""
    # ... or from the base towers: open_clip text towers (MetaCLIP) and the arcface_torch face ViT.
    text_l: str = ""
    text_g: str = ""
    face_vit: str = ""
    architecture: str = "official"  # "official" or "tiny"; a .safetensors encoder carries its own
    # Frozen CLIP image towers for the image term (open_clip files; their `visual.*` tensors are used).
    image_tower_l: str = ""
    image_tower_g: str = ""
    image_arch_l: str = "ViT-L-14"
    image_arch_g: str = "ViT-bigG-14"
    branches: list[str] = field(default_factory=lambda: ["l", "g"])  # each branch trains on its own losses
    pooling: str = "flatten"  # how heads read the fused text (N,77,w): "flatten" (as the official heads), "end", "mean"


@dataclass
class LossSection:
    kind: str = "sigmoid"  # "sigmoid" (SigLIP) or "softmax" (symmetric InfoNCE)
    face_weight: float = 1.0
    text_weight: float = 1.0
    image_weight: float = 1.0
    mask_same_identity: bool = True  # same-person pairs are not used as negatives
    text_target: str = "caption"  # "caption" (plain CLIP text embedding) or "prefixed" (with the id prefix and token)
    image_target: str = "full"  # "full" (the whole photo) or "crop" (the 448 face crop)


@dataclass
class Stage1Config:
    run: RunSection = field(default_factory=RunSection)
    data: DataSection = field(default_factory=DataSection)
    model: Stage1Model = field(default_factory=Stage1Model)
    loss: LossSection = field(default_factory=LossSection)
    optim: OptimSection = field(default_factory=OptimSection)


@dataclass
class Stage2Model:
    sdxl: str = ""  # a local diffusers SDXL folder (unet/ and vae/ subfolders), no hub access
    unet: str = ""  # optional: start the UNet from this file instead (e.g. FaceCLIP's unet.pt)
    encoder: str = ""  # the (frozen) FaceCLIP encoder: official .pt or our .safetensors
    architecture: str = "official"


@dataclass
class Stage2Train:
    resolution: int = 1024  # square centre crop; SDXL size conditioning records the crop
    cond_dropout: float = 0.1  # a dropped sample is encoded with no face and an empty prompt
    noise_offset: float = 0.0
    ema_decay: float = 0.0  # 0 = no EMA; e.g. 0.9999
    train_steps: int = 1000  # DDPM steps, scaled-linear betas 0.00085..0.012 as SDXL
    # Aspect-ratio buckets: each photo at the nearest of SDXL's training sizes (scaled to `resolution`) instead of
    # the square crop; size conditioning records the photo's real size. See faceclip_core/train/buckets.py.
    buckets: bool = False
    # Separate drops, each drawn per sample after (and besides) cond_dropout's joint one: the face alone (the
    # no-face path, the prompt kept) or the prompt alone (an empty prompt, the face kept).
    face_dropout: float = 0.0
    text_dropout: float = 0.0
    # The reference crop: "same" (the training photo's own) or "other" (another photo of the same identity, when the
    # identity has one; prepare --identity-from-folder or a manifest's identity). See faceclip_core/train/references.py.
    reference: str = "same"


@dataclass
class ValidateSection:
    """Stage 2's validation on generated images (with data.val): a few portraits per held-out identity."""

    identities: int = 8  # held-out identities scored (each by its first photo's crop)
    images_per_identity: int = 2
    prompts: list[str] = field(default_factory=lambda: ["a photo of a person", "a portrait of a person in a garden"])
    steps: int = 30  # DDIM steps
    guidance: float = 5.0  # classifier-free guidance scale (the official inference's)
    seed: int = 0
    # the face analyser for ID-Sim: an insightface pack under models_dir (as prepare's --models-dir/--pack), or
    # analyzer = "MODULE:FACTORY" (as prepare's --analyzer), which imports that module: only with
    # allow_analyzer_import = true, so that a config file never runs code unless its reader opts in (as data.allow_pipe)
    models_dir: str = ""
    pack: str = "antelopev2"
    analyzer: str = ""
    allow_analyzer_import: bool = False
    # the CLIP score: an open_clip checkpoint (image and text towers) and its architecture; "" = no CLIP score
    clip: str = ""
    clip_arch: str = "ViT-L-14"


@dataclass
class Stage2Config:
    run: RunSection = field(default_factory=lambda: RunSection(batch_size=64, precision="bf16"))
    data: DataSection = field(default_factory=DataSection)
    model: Stage2Model = field(default_factory=Stage2Model)
    train: Stage2Train = field(default_factory=Stage2Train)
    optim: OptimSection = field(default_factory=lambda: OptimSection(lr=1e-5, weight_decay=0.01, warmup_steps=500))
    validate: ValidateSection = field(default_factory=ValidateSection)


Config = TypeVar("Config")
CHOICES = {
    "precision": ("bf16", "fp32"),
    "schedule": ("constant", "cosine"),
    "pooling": ("flatten", "end", "mean"),
    "kind": ("sigmoid", "softmax"),
    "text_target": ("caption", "prefixed"),
    "image_target": ("full", "crop"),
    "architecture": ("official", "tiny"),
    "parallel": ("ddp", "fsdp"),
    "reference": ("same", "other"),
}
# Values a run can train with: (lowest, highest) inclusive, None for no bound; checked by name in every section.
RANGES = {
    "steps": (1, None), "batch_size": (1, None), "log_every": (1, None), "save_every": (1, None),
    "validate_every": (1, None), "keep_checkpoints": (0, None), "streams": (1, None), "seed": (0, None),
    "lr": (0.0, None), "weight_decay": (0.0, None), "eps": (0.0, None), "warmup_steps": (0, None), "grad_clip": (0.0, None), "betas": (0.0, 0.9999),
    "face_weight": (0.0, None), "text_weight": (0.0, None), "image_weight": (0.0, None), "resolution": (8, None),
    "cond_dropout": (0.0, 1.0), "face_dropout": (0.0, 1.0), "text_dropout": (0.0, 1.0), "noise_offset": (0.0, None), "ema_decay": (0.0, 1.0), "train_steps": (1, None),
    "identities": (1, None), "images_per_identity": (1, None), "guidance": (0.0, None),
}
EXCLUSIVE_LOW = {"lr", "eps"}  # must be above their lowest value, not equal to it
PATH_KEYS = {"out", "train", "val", "encoder", "text_l", "text_g", "face_vit", "image_tower_l", "image_tower_g", "sdxl", "unet", "models_dir", "clip"}


def _did_you_mean(word: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _convert(value: Any, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{where} must be a list, got {value!r}.")
        items = typing.get_args(kind)
        if origin is tuple and len(value) != len(items):
            raise UsageError(f"{where} must be a list of {len(items)} values, got {value!r}.")
        return origin(_convert(item, items[0] if origin is list else items[i], where) for i, item in enumerate(value))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float, str, bool) and type(value) is not kind:
        raise UsageError(f"{where} must be {kind.__name__}, got {value!r}.")
    return value


@dataclasses.dataclass(frozen=True)
class _RunConfigRules:
    """How a run config's TOML is read (architecture.read_dataclass): UsageErrors with a did-you-mean, every value
    checked (defaults too), relative paths resolved against `base`, the config file's folder."""

    base: Path | None

    def not_a_table(self, field: str, value: Any) -> Exception:
        return UsageError(f"'{field}' must be a table ([{field}]), got {value!r}.")

    def unknown_keys(self, where: str, unknown: list[str], cls: type, fields: list[str]) -> Exception:
        key = unknown[0]
        name = f"{where}.{key}" if where else key
        return UsageError(f"Unknown config key '{name}'.{_did_you_mean(key, fields)} Valid keys here: {', '.join(sorted(fields))}.")

    def value(self, key: str, value: Any, kind: Any, field: str, given: bool) -> Any:
        if given:
            value = _convert(value, kind, f"'{field}'")
        if key in CHOICES and value not in CHOICES[key]:
            raise UsageError(f"'{field}' = {value!r} is not one of {', '.join(CHOICES[key])}.{_did_you_mean(str(value), CHOICES[key])}")
        _check_range(key, value, field)
        if key in PATH_KEYS and value and self.base is not None and "://" not in value:
            value = str((self.base / value).resolve())
        return value


def from_dict(cls: type[Config], data: dict[str, Any], base: Path | None = None) -> Config:
    """Build dataclass `cls` from nested dicts; checks key names, types, choices; resolves relative paths."""
    return read_dataclass(cls, data, _RunConfigRules(base), defaults=cls())


def _check_range(key: str, value: Any, name: str) -> None:
    """UsageError for a number a run cannot train with (steps = 0, a NaN learning rate, streams = -1, ...)."""
    if isinstance(value, (tuple, list)):
        for item in value:
            _check_range(key, item, name)
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"'{name}' = {value!r} is not a finite number.")
    if key not in RANGES or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    low, high = RANGES[key]
    if value < low or (key in EXCLUSIVE_LOW and value == low) or (high is not None and value > high):
        allowed = f"above {low}" if key in EXCLUSIVE_LOW else f"at least {low}"
        allowed += f" and at most {high}" if high is not None else ""
        raise UsageError(f"'{name}' = {value!r} must be {allowed}.")


def load_config(path: str | Path, cls: type[Config]) -> Config:
    """Read a TOML run config into `cls` (Stage1Config or Stage2Config)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"Config file {path} does not exist. Write one (see docs/training.md for a complete example).")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"Config file {path} is not valid TOML: {exc}.") from exc
    return from_dict(cls, data, base=path.parent.resolve())


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
