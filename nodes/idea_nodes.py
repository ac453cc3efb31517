"""ID-EA nodes: train an identity from a few photos with the loaded SDXL, then apply it to any conditioning.

Thin: the host's MODEL/CLIP/VAE are adapted to faceclip_core.idea's interfaces here; everything else is core.
ComfyUI modules are imported inside functions, so this file imports (and its declarations test) without a host.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from faceclip_core.idea import (PLACEHOLDER, AnchorBank, IDEAConfig, IDEATrainer, TrainConfig, analyzer_face_embedder,
                                base_model_fingerprint, load_idea_weights, load_names, prepare_training_set,
                                save_training_result)
from faceclip_core.idea.files import WEIGHTS_SUFFIX

from . import host

CATEGORY = "FaceCLIP/ID-EA"
# A single rare BPE token that stands in for the identity while the host tokenizes; its ids are then
# replaced by the learned vectors, one per occurrence, so the sequence keeps the host's length.
STAND_IN_WORD = "sks"


def inject_rows(token_weights: list[list[tuple]], stand_in_id: int, rows: torch.Tensor) -> list[list[tuple]]:
    """Host token lists with the k-th occurrence of stand_in_id replaced by (rows[k], weight)."""
    remaining = iter(rows)
    return [[(next(remaining), w, *rest) if t == stand_in_id else (t, w, *rest) for t, w, *rest in chunk] for chunk in token_weights]


def frozen_for_autograd(module: torch.nn.Module) -> None:
    """Make a host model usable in a graph that trains something else, keeping its values.

    The host builds models while running nodes in inference mode, so their weights are inference tensors, and
    autograd refuses to save those for backward ("Inference tensors cannot be saved for backward"). Each one is
    replaced by a normal copy, one tensor at a time (the host reads weights by name, so it sees the copies; a
    `.data` swap is not enough: the tensor would still lack a version counter). Frozen: the host leaves
    requires_grad on, which would make backward compute gradients for every weight of the UNet.
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


def _copy_if_differentiable(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.clone() if tensor.requires_grad else tensor


def _unchanged(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


class HostPromptEncoder:
    """faceclip_core.idea.PromptEncoder over ComfyUI's SDXL CLIP. Construct it outside inference mode."""

    def __init__(self, clip: Any):
        self.clip = clip
        self.model = clip.cond_stage_model
        clip.load_model()
        frozen_for_autograd(self.model)

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

        comfy.model_management.load_models_gpu([model])
        self.base = model.model
        frozen_for_autograd(self.base)
        self.resolution = resolution
        self.device, self.dtype = model.load_device, self.base.get_dtype()

    def __call__(self, x_t, t, context, pooled):
        y = self.base.encode_adm(pooled_output=pooled, width=self.resolution, height=self.resolution).to(x_t.device, self.dtype)
        unet = self.base.diffusion_model
        return unet(x_t.to(self.dtype), t, context=context.to(self.dtype), y=y).float()


def host_latent_encoder(model: Any, vae: Any):
    def encode(images: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> scaled latents, as the UNet sees them
        return model.model.process_latent_in(vae.encode(images.permute(0, 2, 3, 1)))
    return encode


def _embeddings_dir() -> Path:
    import folder_paths

    return Path(folder_paths.get_folder_paths("embeddings")[0])


class IDEATrain:
    DESCRIPTION = ("Learns a person from a few photos (ID-EA): writes embeddings/NAME.safetensors, usable as embedding:NAME "
                   "in any SDXL prompt, and NAME.idea.safetensors for ID-EA Apply. Resumes if stopped.")
    RETURN_TYPES = ("STRING", "IDEA")
    RETURN_NAMES = ("prompt_word", "idea")
    OUTPUT_TOOLTIPS = ("'embedding:NAME', to put in prompts", "the trained enhancer and adapter, for ID-EA Apply")
    FUNCTION = "train"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": ("IMAGE", {"tooltip": "2 to 10 photos of the person, one clear face each"}),
            "face_analyzer": ("FACE_ANALYZER", {"tooltip": "gives each photo's ArcFace embedding"}),
            "model": ("MODEL", {"tooltip": "the SDXL model to train against (it is not changed)"}),
            "clip": ("CLIP", {"tooltip": "the SDXL text encoders of that model; the new tokens are learned in their space"}),
            "vae": ("VAE", {"tooltip": "the SDXL VAE: encodes the photos to latents once"}),
            "name": ("STRING", {"default": "my_person", "tooltip": "file name; use it as embedding:NAME"}),
            "steps": ("INT", {"default": 320, "min": 1, "max": 10000, "tooltip": "optimiser steps (paper: ~320)"}),
            "batch_size": ("INT", {"default": 8, "min": 1, "max": 64, "tooltip": "samples per step (paper: 8)"}),
            "micro_batch": ("INT", {"default": 1, "min": 1, "max": 64, "tooltip": "samples per pass; 1 fits 12 GB"}),
            "resolution": ("INT", {"default": 1024, "min": 64, "max": 2048, "step": 64,
                                   "tooltip": "training picture size; 1024 for SDXL (lower only to try the graph out)"}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1,
                             "tooltip": "same seed, photos and settings: the same result; a stopped run resumes"}),
        }}

    def train(self, images, face_analyzer, model, clip, vae, name, steps, batch_size, micro_batch, resolution, seed):
        import comfy.model_management
        import comfy.utils
        import folder_paths

        micro_batch = min(micro_batch, batch_size)
        settings = TrainConfig(steps=steps, batch_size=batch_size - batch_size % micro_batch, micro_batch=micro_batch,
                               resolution=resolution, seed=seed)
        bar = comfy.utils.ProgressBar(steps)
        with torch.inference_mode(False), torch.enable_grad():  # the host runs nodes in inference mode
            encoder = HostPromptEncoder(clip)
            data = prepare_training_set(list(images), analyzer_face_embedder(face_analyzer), host_latent_encoder(model, vae), resolution)
            fingerprint = base_model_fingerprint(encoder)
            denoiser = HostDenoiser(model, resolution)
            trainer = IDEATrainer(encoder, denoiser, AnchorBank.from_names(load_names(), encoder), data, IDEAConfig(),
                                  settings, denoiser.device, fingerprint)
            state = Path(folder_paths.get_output_directory()) / "idea_training" / f"{name}.state.pt"
            state.parent.mkdir(parents=True, exist_ok=True)
            result = trainer.run(state, progress=lambda done, total, loss: bar.update_absolute(done, total),
                                 should_stop=comfy.model_management.processing_interrupted)
        _, weights_path = save_training_result(result, trainer.config, _embeddings_dir(), name, fingerprint)
        return (f"embedding:{name}", load_idea_weights(weights_path))


class IDEALoader:
    DESCRIPTION = "Loads an ID-EA file (NAME.idea.safetensors in models/embeddings) written by ID-EA Train."
    RETURN_TYPES = ("IDEA",)
    FUNCTION = "load"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls):
        folder_paths = host.folder_paths()
        names = folder_paths.get_filename_list("embeddings") if folder_paths else []
        files = [f for f in names if f.endswith(WEIGHTS_SUFFIX)]
        return {"required": {"idea_file": (files, {"tooltip": "written by ID-EA Train next to the embedding"})}}

    def load(self, idea_file):
        import folder_paths

        return (load_idea_weights(folder_paths.get_full_path_or_raise("embeddings", idea_file)),)


class IDEAApply:
    DESCRIPTION = ("Adapts SDXL conditioning toward the trained identity (ID-EA's ID-Adapter). Use on the positive prompt, "
                   "which should contain the embedding:NAME word.")
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "apply"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "conditioning": ("CONDITIONING", {"tooltip": "SDXL conditioning of a prompt that says embedding:NAME"}),
            "idea": ("IDEA", {"tooltip": "from ID-EA Loader or ID-EA Train"}),
            "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 3.0, "step": 0.05, "tooltip": "0: unchanged"}),
        }}

    def apply(self, conditioning, idea, strength):
        return ([[idea.apply(context, strength), dict(options)] for context, options in conditioning],)


NODE_CLASS_MAPPINGS = {"IDEATrain": IDEATrain, "IDEALoader": IDEALoader, "IDEAApply": IDEAApply}
NODE_DISPLAY_NAME_MAPPINGS = {"IDEATrain": "ID-EA Train", "IDEALoader": "ID-EA Loader", "IDEAApply": "ID-EA Apply"}
