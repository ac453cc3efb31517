"""What training leaves behind: the SDXL textual-inversion file and the ID-EA weights file, both written atomically.

`<name>.safetensors` holds `clip_l` (n, 768) and `clip_g` (n, 1280): the layout ComfyUI's embedding loader reads
for SDXL, so `embedding:<name>` works in any prompt. `<name>.idea.safetensors` holds the enhancer, the adapter,
the anchor bank and the mean face embedding, with metadata (format, config, steps, base model, token count).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..files.atomic import atomic_path
from ..errors import CheckpointError, UsageError
from ..files.names import path_inside
from .adapter import IDAdapter
from .config import IDEAConfig
from .enhancer import IDEnhancer
from .errors import BaseModelMismatch
from .train import TrainResult

FORMAT = "id-ea/1"
EMBEDDING_FORMAT = "id-ea-embedding/1"
WEIGHTS_SUFFIX = ".idea.safetensors"
STATE_SUFFIX = ".state.pt"
NAME_WHAT = "ID-EA name"


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    with atomic_path(path) as partial:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(partial), metadata=metadata)


def output_paths(directory: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """(embedding file, ID-EA weights file) for a name, in the host's embeddings folder or any folder.

    The name follows the file-name rule (names.check_file_name): UsageError for one that would write elsewhere.
    """
    return (path_inside(directory, name, ".safetensors", NAME_WHAT), path_inside(directory, name, WEIGHTS_SUFFIX, NAME_WHAT))


def state_path(directory: str | os.PathLike, name: str) -> Path:
    """The resumable training state of `name` in `directory` (NAME.state.pt), the name checked as for output_paths."""
    return path_inside(directory, name, STATE_SUFFIX, NAME_WHAT)


def save_training_result(result: TrainResult, config: IDEAConfig, directory: str | os.PathLike, name: str,
                         base_fingerprint: str) -> tuple[Path, Path]:
    """Writes both files and returns their paths."""
    embedding_path, weights_path = output_paths(directory, name)
    common = {"name": name, "steps": str(result.steps), "num_tokens": str(config.num_tokens),
              "base_model": base_fingerprint}
    _atomic_save({"clip_l": result.tokens_l.float(), "clip_g": result.tokens_g.float()}, embedding_path,
                 common | {"format": EMBEDDING_FORMAT})
    tensors = {f"enhancer.{k}": v for k, v in result.enhancer.state_dict().items()}
    tensors |= {f"adapter.{k}": v for k, v in result.adapter.state_dict().items()}
    tensors |= {"anchors": result.anchor.embeddings, "face": result.face}
    _atomic_save(tensors, weights_path, common | {"format": FORMAT, "config": config.to_json(), "final_loss": f"{result.losses[-1]:.6f}" if result.losses else ""})
    return embedding_path, weights_path


@dataclass
class IDEAWeights:
    """A loaded ID-EA weights file: adapts SDXL conditioning toward the trained identity."""

    config: IDEAConfig
    enhancer: IDEnhancer
    adapter: IDAdapter
    anchors: torch.Tensor
    face: torch.Tensor
    metadata: dict[str, str]

    @torch.no_grad()
    def identity_tokens(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """(1, n, context_dim): the trained face read through the anchor bank, on `device`."""
        self.enhancer.to(device)
        dtype = self.enhancer.proj.weight.dtype
        return self.enhancer(self.face.view(1, -1).to(device, dtype), self.anchors.to(device, dtype))

    @torch.no_grad()
    def apply(self, context: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        """SDXL text context (B, L, 2048) -> adapted context; strength 0 returns it unchanged."""
        if not isinstance(strength, (int, float)) or not math.isfinite(strength):
            raise UsageError(f"The ID-EA strength must be a finite number, got {strength!r}. Use 0 to 3 (1 is the trained strength).")
        if context.shape[-1] != self.config.context_dim:
            raise BaseModelMismatch(
                f"This ID-EA file was trained for SDXL (text context width {self.config.context_dim}); the conditioning "
                f"has width {context.shape[-1]}. Encode the prompt with the CLIP of the SDXL checkpoint it was trained on.")
        self.adapter.to(context.device)
        return self.adapter(context, self.identity_tokens(context.device), strength)


def load_idea_weights(path: str | os.PathLike) -> IDEAWeights:
    """An ID-EA weights file, its architecture and every tensor checked before use; CheckpointError naming the file."""
    path = Path(path)
    retrain = "Train it again with ID-EA Train."
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            _check_format(path, metadata)
            try:
                config = IDEAConfig.from_json(metadata["config"])
            except (KeyError, ValueError) as exc:  # missing, bad JSON, or InvalidArchitecture naming the field
                raise CheckpointError(f"{path}: its 'config' metadata cannot be built ({exc}). {retrain}") from exc
            with torch.device("meta"):  # the expected shapes, without allocating the modules
                expected = _expected_shapes(config)
            problems = [k for k in expected if k not in f.keys()] + [k for k in f.keys() if k not in expected]
            if problems:
                raise CheckpointError(f"{path}: tensor {problems[0]!r} is missing or unexpected for its config. {retrain}")
            for key, shape in expected.items():
                found = tuple(f.get_slice(key).get_shape())
                if len(found) != len(shape) or any(want not in (-1, got) for want, got in zip(shape, found)):
                    shown = tuple("N" if n == -1 else n for n in shape)
                    raise CheckpointError(f"{path}: tensor {key!r} has shape {found}, its config says {shown}. {retrain}")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: cannot be read as a safetensors file ({exc}). {retrain}") from exc
    enhancer, adapter = IDEnhancer(config), IDAdapter(config)
    enhancer.load_state_dict({k.removeprefix("enhancer."): v for k, v in tensors.items() if k.startswith("enhancer.")})
    adapter.load_state_dict({k.removeprefix("adapter."): v for k, v in tensors.items() if k.startswith("adapter.")})
    return IDEAWeights(config, enhancer.eval(), adapter.eval(), tensors["anchors"], tensors["face"], metadata)


def _check_format(path: Path, metadata: dict[str, str]) -> None:
    if metadata.get("format") != FORMAT:
        hint = " It is the token embedding: pick the .idea.safetensors file beside it." if metadata.get("format") == EMBEDDING_FORMAT else ""
        raise CheckpointError(f"{path}: not an ID-EA weights file (format {metadata.get('format')!r}, expected {FORMAT!r}).{hint}")


def _expected_shapes(config: IDEAConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor name of an ID-EA file for `config` and its shape, -1 where any size fits (call on the meta device)."""
    shapes = {f"enhancer.{k}": tuple(v.shape) for k, v in IDEnhancer(config).state_dict().items()}
    shapes |= {f"adapter.{k}": tuple(v.shape) for k, v in IDAdapter(config).state_dict().items()}
    return shapes | {"anchors": (-1, config.context_dim), "face": (config.face_dim,)}  # -1: any number of names
