"""SDXL outside ComfyUI: a diffusers pipeline's parts adapted to the trainer's interfaces (interfaces.py).

Needs the optional extra `pip install -r requirements-idea.txt` (diffusers + transformers), imported only here.
Text encoding follows diffusers' StableDiffusionXLPipeline.encode_prompt: the penultimate hidden states of both
towers side by side (77, 2048), pooled = CLIP-G's projected end-token state.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import UsageError
from .interfaces import PLACEHOLDER

INSTALL_HINT = "pip install -r requirements-idea.txt  (diffusers and transformers, for training without ComfyUI)"


def require_diffusers() -> Any:
    try:
        import diffusers
        import transformers  # noqa: F401  (diffusers imports it lazily; fail here, with the hint)
    except ImportError as exc:
        raise UsageError(f"Training from the command line needs diffusers and transformers ({exc.name} is missing). "
                         f"Install them: {INSTALL_HINT}") from exc
    return diffusers


@dataclass
class DiffusersSDXL:
    """The parts of a StableDiffusionXLPipeline that training uses, frozen, on one device."""

    unet: Any
    vae: Any
    text_encoders: tuple[Any, Any]  # CLIPTextModel (L), CLIPTextModelWithProjection (G)
    tokenizers: tuple[Any, Any]
    device: torch.device
    dtype: torch.dtype


def load_sdxl(path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
              config: str | Path | None = None) -> DiffusersSDXL:
    """A diffusers SDXL folder (model_index.json, unet/, vae/, text_encoder/, ...) or a single-file checkpoint
    such as sd_xl_base_1.0.safetensors. A single file holds only weights: diffusers reads the pipeline's config
    files from `config`, a diffusers SDXL folder (its *.json and *.txt files are enough), or else fetches them
    from the Hugging Face hub (online once, cached after that)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"SDXL model {path} not found. Give a diffusers SDXL folder or an .safetensors checkpoint.")
    if path.is_dir() and not (path / "model_index.json").is_file():
        raise UsageError(f"{path} is not a diffusers pipeline folder (no model_index.json). Give the folder that holds "
                         "model_index.json, unet/ and vae/, or an SDXL .safetensors checkpoint file.")
    if config is not None and path.is_dir():
        raise UsageError(f"--sdxl-config is only for a single-file checkpoint; {path} is a diffusers folder, which "
                         "holds its own configs. Leave --sdxl-config out.")
    if config is not None and not (Path(config) / "model_index.json").is_file():
        raise UsageError(f"--sdxl-config {config} has no model_index.json. Give a diffusers SDXL folder, e.g. the "
                         "*.json and *.txt files of stabilityai/stable-diffusion-xl-base-1.0 in their subfolders.")
    pipeline_class = require_diffusers().StableDiffusionXLPipeline
    if path.is_dir():
        # the SDXL VAE overflows in fp16; it runs once per photo, so it stays in float32
        pipe = pipeline_class.from_pretrained(str(path), dtype={"vae": torch.float32, "default": dtype})
    else:
        pipe = _from_single_file(pipeline_class, path, config, dtype)
    parts = DiffusersSDXL(pipe.unet, pipe.vae, (pipe.text_encoder, pipe.text_encoder_2), (pipe.tokenizer, pipe.tokenizer_2),
                          torch.device(device), dtype)
    for module in (parts.unet, parts.vae, *parts.text_encoders):
        module.to(parts.device).requires_grad_(False).eval()
    return parts


def _from_single_file(pipeline_class: Any, path: Path, config: str | Path | None, dtype: torch.dtype) -> Any:
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        # one dtype only (a per-part dict falls back to float32 for all); the VAE is upcast after, as above
        pipe = pipeline_class.from_single_file(str(path), config=None if config is None else str(config), dtype=dtype)
    except LocalEntryNotFoundError as exc:  # offline, or the hub unreachable, and the config not in the cache
        reason = str(exc).splitlines()[0].rstrip(".")
        raise UsageError(
            f"Loading the single-file checkpoint {path.name} needs the SDXL pipeline's config files, which diffusers "
            f"could neither download nor find in its cache ({reason}). Go online once (diffusers then caches them), "
            "or pass --sdxl-config with a diffusers SDXL folder holding them, e.g. the *.json and *.txt files of "
            "stabilityai/stable-diffusion-xl-base-1.0.") from exc
    pipe.vae.to(torch.float32)
    return pipe


class DiffusersPromptEncoder:
    """PromptEncoder over the pipeline's two CLIP text towers. The placeholder's positions get a marker id (the
    start token, which pooling never picks) whose embeddings a hook on the token table swaps for the learned rows."""

    def __init__(self, sdxl: DiffusersSDXL):
        self.sdxl = sdxl

    def embedding_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(encoder.get_input_embeddings().weight for encoder in self.sdxl.text_encoders)

    def token_ids(self, text: str) -> tuple[list[int], list[int]]:
        return tuple(tokenizer(text, add_special_tokens=False)["input_ids"] for tokenizer in self.sdxl.tokenizers)

    @staticmethod
    def _ids(tokenizer: Any, prompt: str, count: int, length: int) -> tuple[list[int], list[int]]:
        """Token ids of `prompt` padded to `length`, and the positions of the identity tokens."""
        before, after = prompt.split(PLACEHOLDER)
        head = tokenizer(before, add_special_tokens=False)["input_ids"]
        tail = tokenizer(after, add_special_tokens=False)["input_ids"]
        body = (head + [tokenizer.bos_token_id] * count + tail)[: length - 2]
        ids = [tokenizer.bos_token_id, *body, tokenizer.eos_token_id]
        return ids + [tokenizer.pad_token_id] * (length - len(ids)), list(range(1 + len(head), 1 + len(head) + count))

    def _hidden(self, index: int, prompts: Sequence[str], rows: torch.Tensor) -> Any:
        tokenizer, encoder = self.sdxl.tokenizers[index], self.sdxl.text_encoders[index]
        length = encoder.config.max_position_embeddings  # 77
        ids, positions = zip(*(self._ids(tokenizer, prompt, len(rows), length) for prompt in prompts))
        mask = torch.zeros(len(ids), len(ids[0]), dtype=torch.bool)
        for i, where in enumerate(positions):
            mask[i, list(where)] = True
        mask = mask.to(self.sdxl.device)

        def swap_in(_module: Any, _inputs: Any, embedded: torch.Tensor) -> torch.Tensor:
            learned = rows.to(embedded.dtype).repeat(len(prompts), 1)  # row k fills the k-th marked position
            return embedded.masked_scatter(mask.unsqueeze(-1), learned)

        hook = encoder.get_input_embeddings().register_forward_hook(swap_in)
        try:
            return encoder(torch.tensor(ids, device=self.sdxl.device), output_hidden_states=True)
        finally:
            hook.remove()

    def encode(self, prompts: Sequence[str], tokens_l: torch.Tensor, tokens_g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out_l = self._hidden(0, prompts, tokens_l)
        out_g = self._hidden(1, prompts, tokens_g)
        context = torch.cat([out_l.hidden_states[-2], out_g.hidden_states[-2]], dim=-1)
        return context.float(), out_g.text_embeds.float()


class DiffusersDenoiser:
    """Denoiser over the pipeline's UNet, with SDXL's size conditioning for uncropped square training pictures.

    gradient_checkpointing: backward recomputes the UNet's activations instead of keeping them (diffusers' own
    switch, the same layers the ComfyUI node checkpoints), which a 1024 px step needs on a 12 GB GPU."""

    def __init__(self, sdxl: DiffusersSDXL, resolution: int, gradient_checkpointing: bool = True):
        self.sdxl = sdxl
        if gradient_checkpointing:
            sdxl.unet.enable_gradient_checkpointing()
        self.time_ids = torch.tensor([resolution, resolution, 0, 0, resolution, resolution], dtype=sdxl.dtype, device=sdxl.device)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        dtype = self.sdxl.dtype
        conditions = {"text_embeds": pooled.to(dtype), "time_ids": self.time_ids.expand(len(x_t), -1)}
        return self.sdxl.unet(x_t.to(dtype), t, encoder_hidden_states=context.to(dtype), added_cond_kwargs=conditions).sample.float()


def latent_encoder(sdxl: DiffusersSDXL):
    """LatentEncoder over the pipeline's VAE: the mean of the latent distribution, scaled as the UNet sees it."""
    def encode(images: torch.Tensor) -> torch.Tensor:
        posterior = sdxl.vae.encode(images.to(sdxl.device) * 2 - 1).latent_dist
        return posterior.mean * sdxl.vae.config.scaling_factor
    return encode
