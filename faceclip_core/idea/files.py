"""What training leaves behind: the SDXL textual-inversion file and the ID-EA weights file, both written atomically.

`<name>.safetensors` holds `clip_l` (n, 768) and `clip_g` (n, 1280): the layout ComfyUI's embedding loader reads
for SDXL, so `embedding:<name>` works in any prompt. `<name>.idea.safetensors` holds the enhancer, the adapter,
the anchor bank and the mean face embedding, with metadata (format, config, steps, base model, token count).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..atomic import atomic_path
from ..errors import CheckpointError
from .adapter import IDAdapter
from .config import IDEAConfig
from .enhancer import IDEnhancer
from .errors import BaseModelMismatch
from .train import TrainResult

FORMAT = "id-ea/1"
EMBEDDING_FORMAT = "id-ea-embedding/1"
WEIGHTS_SUFFIX = ".idea.safetensors"


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(partial), metadata=metadata)


def output_paths(directory: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """(embedding file, ID-EA weights file) for a name, in the host's embeddings folder or any folder."""
    directory = Path(directory)
    return directory / f"{name}.safetensors", directory / f"{name}{WEIGHTS_SUFFIX}"


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
        if context.shape[-1] != self.config.context_dim:
            raise BaseModelMismatch(
                f"This ID-EA file was trained for SDXL (text context width {self.config.context_dim}); the conditioning "
                f"has width {context.shape[-1]}. Encode the prompt with the CLIP of the SDXL checkpoint it was trained on.")
        self.adapter.to(context.device)
        return self.adapter(context, self.identity_tokens(context.device), strength)


def load_idea_weights(path: str | os.PathLike) -> IDEAWeights:
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors, metadata = {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: cannot be read as a safetensors file ({exc}). Train it again with ID-EA Train.") from exc
    if metadata.get("format") != FORMAT:
        hint = " It is the token embedding: pick the .idea.safetensors file beside it." if metadata.get("format") == EMBEDDING_FORMAT else ""
        raise CheckpointError(f"{path}: not an ID-EA weights file (format {metadata.get('format')!r}, expected {FORMAT!r}).{hint}")
    config = IDEAConfig.from_json(metadata["config"])
    enhancer, adapter = IDEnhancer(config), IDAdapter(config)
    enhancer.load_state_dict({k.removeprefix("enhancer."): v for k, v in tensors.items() if k.startswith("enhancer.")})
    adapter.load_state_dict({k.removeprefix("adapter."): v for k, v in tensors.items() if k.startswith("adapter.")})
    return IDEAWeights(config, enhancer.eval(), adapter.eval(), tensors["anchors"], tensors["face"], metadata)

