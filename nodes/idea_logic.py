"""What the ID-EA nodes do: the host's MODEL/CLIP/VAE adapted to faceclip_core.idea's interfaces; the rest is core.

Imports without ComfyUI (host modules are imported inside functions), so CI tests it; the node declarations are in
idea_nodes.py.
"""
from __future__ import annotations

import logging
from contextlib import closing
from pathlib import Path
from typing import Any, Sequence

import torch

from faceclip_core.idea import (PLACEHOLDER, AnchorBank, IDEAConfig, IDEATrainer, TrainConfig, analyzer_face_embedder,
                                base_model_fingerprint, load_idea_weights, load_names, prepare_training_set,
                                TrainResult, save_training_result)
from faceclip_core.idea.errors import TrainingCancelled
from faceclip_core.idea.gradient_checkpointing import gradient_checkpointing as checkpointed
from faceclip_core.idea.files import WEIGHTS_SUFFIX, IDEAWeights, output_paths, state_path

from . import host
from .training_clones import training_clip, training_model

# A single rare BPE token that stands in for the identity while the host tokenizes; its ids are then
# replaced by the learned vectors, one per occurrence, so the sequence keeps the host's length.
STAND_IN_WORD = "sks"
PREVIEW_PROMPTS = f"portrait photo of {PLACEHOLDER} person, natural light, sharp focus\n{PLACEHOLDER} person as an astronaut, cinematic"
PREVIEW_NEGATIVE = "blurry, lowres, deformed, watermark, text"
PREVIEW_CFG = 5.0


def inject_rows(token_weights: list[list[tuple]], stand_in_id: int, rows: torch.Tensor) -> list[list[tuple]]:
    """Host token lists with the k-th occurrence of stand_in_id replaced by (rows[k], weight)."""
    remaining = iter(rows)
    return [[(next(remaining), w, *rest) if t == stand_in_id else (t, w, *rest) for t, w, *rest in chunk] for chunk in token_weights]


def frozen_for_autograd(module: torch.nn.Module) -> int:
    """Make a host model usable in a graph that trains something else, keeping its values; returns the bytes copied.

    The host builds models while running nodes in inference mode, so their weights are inference tensors, and
    autograd refuses to save those for backward ("Inference tensors cannot be saved for backward"). Each one is
    replaced by a normal copy, one tensor at a time (the host reads weights by name, so it sees the copies; a
    `.data` swap is not enough: the tensor would still lack a version counter). A model built outside inference
    mode (training_clones) is used as it is: nothing copied. Frozen: the host leaves requires_grad on, which
    would make backward compute gradients for every weight of the UNet.
    """
    copies: dict[int, torch.Tensor] = {}  # tied weights stay tied
    with torch.no_grad():
        for sub in module.modules():
            for table in (sub._parameters, sub._buffers):
                for name, tensor in table.items():
                    if tensor is None:
                        continue
                    if tensor.is_inference():
                        if id(tensor) not in copies:
                            copy = tensor.clone()
                            copies[id(tensor)] = torch.nn.Parameter(copy, requires_grad=False) if table is sub._parameters else copy
                        table[name] = copies[id(tensor)]
                    else:
                        tensor.requires_grad_(False)
    return sum(copy.nbytes for copy in copies.values())


def _log_copied(what: str, size: int) -> None:
    if size:  # 0.3.64: its models are built in inference mode; newer hosts give a clone built for training
        logging.info("ID-EA Train: the host's %s holds inference-mode weights: %.0f MB copied for training", what, size / 2**20)


def _copy_if_differentiable(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.clone() if tensor.requires_grad else tensor


def _unchanged(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


class HostPromptEncoder:
    """faceclip_core.idea.PromptEncoder over ComfyUI's SDXL CLIP. Construct it outside inference mode."""

    def __init__(self, clip: Any):
        import comfy.model_management

        self.clip = clip
        self.model = clip.cond_stage_model
        comfy.model_management.load_models_gpu([clip.patcher], force_full_load=True)
        _log_copied("CLIP", frozen_for_autograd(self.model))

    def embedding_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(getattr(self.model, part).transformer.get_input_embeddings().weight for part in ("clip_l", "clip_g"))

    def token_ids(self, text: str) -> tuple[list[int], list[int]]:
        return tuple(getattr(self.clip.tokenizer, part).tokenizer(text)["input_ids"][1:-1] for part in ("clip_l", "clip_g"))

    def encode(self, prompts: Sequence[str], tokens_l: torch.Tensor, tokens_g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (stand_in,), _ = self.token_ids(STAND_IN_WORD)
        contexts, pooled = [], []
        for prompt in prompts:
            tokens = self.clip.tokenize(prompt.replace(PLACEHOLDER, " ".join([STAND_IN_WORD] * len(tokens_l))))
            tokens["l"] = inject_rows(tokens["l"], stand_in, tokens_l)
            tokens["g"] = inject_rows(tokens["g"], stand_in, tokens_g)
            # The host's CLIP layers add to their hidden state in place (x += attn(x)), which autograd rejects
            # ("modified by an inplace operation"); saving copies of the activations it needs makes the tower
            # differentiable. Weights (no grad) are saved as they are: the CLIP holds no extra copy of them.
            with torch.autograd.graph.saved_tensors_hooks(_copy_if_differentiable, _unchanged):
                context, pool = self.clip.encode_from_tokens(tokens, return_pooled=True)
            contexts.append(context)
            pooled.append(pool)
        return torch.cat(contexts), torch.cat(pooled)


class HostDenoiser:
    """faceclip_core.idea.Denoiser over ComfyUI's SDXL MODEL: the raw UNet at DDPM timesteps, with SDXL's size
    conditioning. Construct it outside inference mode."""

    def __init__(self, model: Any, resolution: int):
        import comfy.model_management

        comfy.model_management.load_models_gpu([model], force_full_load=True)
        self.base = model.model
        _log_copied("MODEL", frozen_for_autograd(self.base))
        self.resolution = resolution
        self.device, self.dtype = model.load_device, self.base.get_dtype()

    def __call__(self, x_t, t, context, pooled):
        y = self.base.encode_adm(pooled_output=pooled, width=self.resolution, height=self.resolution).to(x_t.device, self.dtype)
        unet = self.base.diffusion_model
        return unet(x_t.to(self.dtype), t, context=context.to(self.dtype), y=y).float()


def unet_layers(unet: torch.nn.Module) -> list[torch.nn.Module]:
    """The layers inside the host SDXL UNet's blocks: the UNet calls each block's layers one by one (never the
    block's own forward), so these are what gradient checkpointing can wrap."""
    return [layer for block in (*unet.input_blocks, unet.middle_block, *unet.output_blocks) for layer in block]


def host_latent_encoder(model: Any, vae: Any):
    def encode(images: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> scaled latents, as the UNet sees them
        return model.model.process_latent_in(vae.encode(images.permute(0, 2, 3, 1)))
    return encode


class TrainingProgress:
    """The UI's progress bar, a console bar that also shows the loss (the UI's has no room for numbers), and the
    cancel button seen as the trainer's should_stop."""

    def __init__(self, name: str, total: int):
        import comfy.utils
        from tqdm import tqdm  # a host dependency: its samplers draw their console bars with it

        self.bar = comfy.utils.ProgressBar(total)
        self.console = tqdm(total=total, desc=f"ID-EA Train {name}", unit="step")
        self.cancelled = False

    def __call__(self, done: int, total: int, loss: float) -> None:
        import comfy.model_management

        self.console.update(done - self.console.n)  # a resumed run jumps to its first step
        self.console.set_postfix(loss=f"{loss:.4f}")
        try:
            self.bar.update_absolute(done, total)
        except comfy.model_management.InterruptProcessingException:
            # the host's bar raises this when cancel was pressed; the trainer must first save its state
            self.cancelled = True

    def should_stop(self) -> bool:
        import comfy.model_management

        return self.cancelled or comfy.model_management.processing_interrupted()

    def close(self) -> None:
        self.console.close()


def embeddings_dir() -> Path:
    import folder_paths

    return Path(folder_paths.get_folder_paths("embeddings")[0])


def _conditioning(clip: Any, text: str, resolution: int, idea: IDEAWeights | None = None) -> list:
    """SDXL conditioning of `text`, as CLIPTextEncodeSDXL gives it at a square size, adapted by `idea` if given."""
    context, pooled = clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)
    if idea is not None:
        context = idea.apply(context)
    size = {"width": resolution, "height": resolution, "crop_w": 0, "crop_h": 0,
            "target_width": resolution, "target_height": resolution}
    return [[context, {"pooled_output": pooled, **size}]]


def sample_previews(model: Any, clip: Any, vae: Any, idea: IDEAWeights, prompts: Sequence[str], word: str,
                    resolution: int, steps: int, seed: int) -> torch.Tensor:
    """One picture per prompt, `<idea>` read as the trained embedding word, sampled as a user's graph would:
    the host's tokenizer finds the new embedding file, ID-EA Apply at strength 1, then KSampler and VAE Decode."""
    import comfy.sample
    import comfy.utils

    negative = _conditioning(clip, PREVIEW_NEGATIVE, resolution)
    latent = torch.zeros(1, 4, resolution // 8, resolution // 8)
    noise = comfy.sample.prepare_noise(latent, seed)  # the same start for every prompt, so they compare
    bar = comfy.utils.ProgressBar(steps * len(prompts))
    pictures = []
    for done, prompt in enumerate(prompts):
        positive = _conditioning(clip, prompt.replace(PLACEHOLDER, word), resolution, idea)
        samples = comfy.sample.sample(
            model, noise, steps, PREVIEW_CFG, "euler", "normal", positive, negative, latent, seed=seed, disable_pbar=True,
            callback=lambda step, *_: bar.update_absolute(done * steps + step + 1))
        pictures.append(vae.decode(samples))
    return torch.cat(pictures)


def training_settings(steps: int, batch_size: int, micro_batch: int, resolution: int, seed: int) -> TrainConfig:
    """The node's widgets as the core's TrainConfig; a batch that is no multiple of micro_batch is cut to one."""
    micro_batch = min(micro_batch, batch_size)
    return TrainConfig(steps=steps, batch_size=batch_size - batch_size % micro_batch, micro_batch=micro_batch,
                       resolution=resolution, seed=seed)


def train_until_cancel(trainer: IDEATrainer, state: Path, progress: Any, should_stop: Any, management: Any) -> TrainResult:
    """trainer.run until done or cancelled. Cancel, seen by should_stop or raised from inside a step as the host's
    interrupt (`management` is comfy.model_management; newer hosts derive its InterruptProcessingException from
    BaseException and raise it from every comfy.ops layer), ends the same way on every host: the state saved, the
    resume line logged, then the host's interrupt raised (the very one, when it came from inside a step)."""
    interrupt = management.InterruptProcessingException
    try:
        return trainer.run(state, progress, should_stop, stop_types=(interrupt,))
    except TrainingCancelled as stopped:
        logging.info("ID-EA Train: %s", stopped)  # how to resume; the UI itself shows "interrupted"
        management.interrupt_current_processing(False)
        if isinstance(stopped.__cause__, interrupt):
            raise stopped.__cause__ from None  # the very interrupt, without a chain back through our own exception
        raise interrupt() from stopped


def train_identity(images: torch.Tensor, face_analyzer: Any, model: Any, clip: Any, vae: Any, name: str,
                   settings: TrainConfig, gradient_checkpointing: bool) -> IDEAWeights:
    """Trains (or resumes) an identity with the host's SDXL; writes embeddings/NAME.safetensors and
    NAME.idea.safetensors and returns the loaded ID-EA weights. Cancel ends as the host's interruption."""
    import comfy.model_management
    import folder_paths

    # the name becomes files: checked (faceclip_core.files.names) before anything slow runs
    state = state_path(Path(folder_paths.get_output_directory()) / "idea_training", name)
    output_paths(embeddings_dir(), name)
    with torch.inference_mode(False), torch.enable_grad():  # the host runs nodes in inference mode
        encoder = HostPromptEncoder(training_clip(clip))
        data = prepare_training_set(list(images), analyzer_face_embedder(face_analyzer), host_latent_encoder(model, vae),
                                    settings.resolution)
        fingerprint = base_model_fingerprint(encoder)
        denoiser = HostDenoiser(training_model(model), settings.resolution)
        trainer = IDEATrainer(encoder, denoiser, AnchorBank.from_names(load_names(), encoder), data, IDEAConfig(),
                              settings, denoiser.device, fingerprint)
        layers = unet_layers(denoiser.base.diffusion_model) if gradient_checkpointing else []
        with checkpointed(layers), closing(TrainingProgress(name, settings.steps)) as progress:
            result = train_until_cancel(trainer, state, progress, progress.should_stop, comfy.model_management)
    _, weights_path = save_training_result(result, trainer.config, embeddings_dir(), name, fingerprint)
    return load_idea_weights(weights_path)


def preview_lines(preview_prompts: str, preview_steps: int) -> list[str]:
    """The preview prompts to sample, one per non-empty line; none when preview_steps is 0."""
    return [line.strip() for line in preview_prompts.splitlines() if line.strip()] if preview_steps else []


def idea_files() -> list[str]:
    """The ID-EA files in the host's embeddings folders (empty outside a host)."""
    return [f for f in host.folder_files("embeddings") if f.endswith(WEIGHTS_SUFFIX)]


def idea_file_path(idea_file: str) -> Path:
    import folder_paths

    return Path(folder_paths.get_full_path_or_raise("embeddings", idea_file))


def apply_idea(conditioning: list, idea: IDEAWeights, strength: float) -> list:
    """The conditioning with each context adapted toward the identity; the options dict is copied, not shared."""
    return [[idea.apply(context, strength), dict(options)] for context, options in conditioning]
