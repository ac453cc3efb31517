"""Stage 2 (FaceCLIP-SDXL): the whole SDXL UNet learns to denoise under frozen FaceCLIP conditioning.

Context = concat(L fused, G fused) (N, 77, 2048), pooled = G's (N, 1280), SDXL size conditioning, epsilon
MSE on a 1000-step scaled-linear DDPM. A dropped sample (probability cond_dropout) is encoded with no face
and an empty prompt, as the inference pipeline's negative branch is, so classifier-free guidance has
an unconditional it was trained on. The VAE and the encoder are frozen.

Every random draw of a sample (dropout, timestep, VAE posterior, noise) comes from a generator seeded by
the run seed, the batch's data position and the sample's place in the global batch, never from a process's
RNG: so one process and N processes draw the same numbers, and a resumed run draws what the straight run did.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..files.atomic import atomic_path, write_text
from ..errors import CheckpointError, UsageError
from ..files.weights import Advice, read_checkpoint
from ..encoders.sdxl.model import FaceCLIPEncoder
from .config import Stage2Config, Stage2Train
from .extras import require
from .buckets import buckets, nearest
from .images import chw, cover, decode, square
from .loop import Objective
from .shards import Sample
from .stream import Position
from .stage1_init import encoder_from_file

UNET_PT_NAME = "unet.pt"  # the official release's name and layout: torch.save of a diffusers-key state dict
UNET_SAFETENSORS_NAME = "diffusion_pytorch_model.safetensors"
# model.unet: FaceCLIP's fine-tuned UNet, or any diffusers-layout SDXL UNet
UNET_ADVICE = Advice("a diffusers-layout SDXL UNet such as FaceCLIP's unet.pt", "https://huggingface.co/ByteDance/FaceCLIP (model/unet.pt)",
                     "the UNet file inside it")


@dataclass
class Stage2Batch:
    images: list[torch.Tensor]  # B of (3, h, w) uint8: R x R, or each sample's bucket
    crops: torch.Tensor  # (B, 3, 448, 448) uint8
    captions: list[str]
    time_ids: torch.Tensor  # (B, 6): original (h, w), crop top-left (y, x), target (h, w)
    keys: list[str]  # the samples' keys and identity labels (for train.reference = "other")
    identities: list[str]
    seeds: torch.Tensor | None = None  # (B,) int64: each sample's random draws (see sample_seeds); None = from torch's RNG


Stage2Item = tuple[torch.Tensor, torch.Tensor, str, torch.Tensor, str, str]  # image, crop, caption, time ids, key, identity


class Stage2Decoder:
    """Shard sample -> (photo at its training size, reference crop, caption, time ids); square crops at
    `resolution`, or with `bucketed` the nearest of SDXL's aspect-ratio buckets scaled to it."""

    def __init__(self, resolution: int, bucketed: bool = False):
        self.resolution = resolution
        self.sizes = buckets(resolution) if bucketed else None

    def __call__(self, key: str, sample: Sample) -> Stage2Item:
        image = decode(sample["jpg"])
        if self.sizes is None:
            (height, width), (pixels, top, left) = (self.resolution,) * 2, square(image, self.resolution)
        else:
            height, width = nearest(*image.shape[:2], self.sizes)
            pixels, top, left = cover(image, height, width)
        time_ids = torch.tensor([*image.shape[:2], top, left, height, width], dtype=torch.float32)
        identity = json.loads(sample["json"])["identity"]
        return pixels, chw(decode(sample["crop.png"])), sample["txt"].decode("utf-8"), time_ids, key, identity


def collate(items: list[Stage2Item]) -> Stage2Batch:
    images, crops, captions, time_ids, keys, identities = zip(*items)
    return Stage2Batch(list(images), torch.stack(crops), list(captions), torch.stack(time_ids), list(keys), list(identities))


def sample_seeds(run_seed: int, position: Position, first: int, count: int) -> torch.Tensor:
    """Seeds of samples first..first+count-1 of the global batch that ends at data `position`: the same for
    any number of processes (each passes its offset in the global batch) and on resume."""
    seeds = [hashlib.blake2b(f"{run_seed}/{position.epoch}/{position.batch}/{first + i}".encode(), digest_size=8).digest()
             for i in range(count)]
    return torch.tensor([int.from_bytes(s, "little") >> 1 for s in seeds], dtype=torch.long)


def with_sample_seeds(batches: Iterator[tuple[Position, Stage2Batch]], run_seed: int, first: int
                      ) -> Iterator[tuple[Position, Stage2Batch]]:
    """Stamp each of this process's batches (which start at global row `first`) with its samples' seeds."""
    for position, batch in batches:
        batch.seeds = sample_seeds(run_seed, position, first, len(batch.captions))
        yield position, batch


@dataclass
class SampleDraws:
    """A batch's random numbers, drawn sample by sample from the samples' own generators."""

    no_face: list[bool]  # encoded without the face (joint or face-only drop)
    no_text: list[bool]  # encoded with an empty prompt (joint or text-only drop)
    timesteps: torch.Tensor  # (B,) int64
    posterior: list[torch.Tensor]  # B of (C, h, w) standard normal, for the VAE's latent sample
    noise: list[torch.Tensor]  # B of (C, h, w): the diffusion noise, offset included

    @classmethod
    def draw(cls, seeds: torch.Tensor, latent_shapes: list[tuple[int, ...]], cfg: Stage2Train) -> "SampleDraws":
        no_face, no_text, timesteps, posterior, noise = [], [], [], [], []
        for seed, shape in zip(seeds.tolist(), latent_shapes):
            generator = torch.Generator().manual_seed(seed)
            dropped = bool(torch.rand((), generator=generator) < cfg.cond_dropout)
            timesteps.append(torch.randint(0, cfg.train_steps, (), generator=generator))
            posterior.append(torch.randn(shape, generator=generator))
            eps = torch.randn(shape, generator=generator)
            if cfg.noise_offset:
                eps = eps + cfg.noise_offset * torch.randn(shape[0], 1, 1, generator=generator)
            noise.append(eps)
            face_drop, text_drop = torch.rand(2, generator=generator).tolist()
            no_face.append(dropped or face_drop < cfg.face_dropout)
            no_text.append(dropped or text_drop < cfg.text_dropout)
        return cls(no_face, no_text, torch.stack(timesteps), posterior, noise)


def ddpm_alphas_cumprod(steps: int) -> torch.Tensor:
    """SDXL's training noise schedule: betas linear in sqrt from 0.00085 to 0.012 ("scaled_linear")."""
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, dim=0).float()


class Stage2Objective(Objective):
    def __init__(self, unet: nn.Module, vae: nn.Module, encoder: FaceCLIPEncoder, train_cfg: Stage2Train,
                 gradient_checkpointing: bool = True):
        super().__init__()
        self.unet, self.vae, self.encoder = unet, vae, encoder
        self.cfg = train_cfg
        vae.requires_grad_(False)
        encoder.requires_grad_(False)
        unet.requires_grad_(True)
        if gradient_checkpointing:
            unet.enable_gradient_checkpointing()
        self.register_buffer("alphas_cumprod", ddpm_alphas_cumprod(train_cfg.train_steps), persistent=False)
        self.ema = None
        if train_cfg.ema_decay > 0:
            self.ema = AveragedModel(unet, multi_avg_fn=get_ema_multi_avg_fn(train_cfg.ema_decay), use_buffers=True)
            self.ema.requires_grad_(False)

    def frozen_modules(self) -> list[nn.Module]:
        return [self.vae, self.encoder] + ([self.ema] if self.ema is not None else [])

    def resume_keys(self) -> set[str]:
        return super().resume_keys() | {k for k in self.state_dict() if k.startswith("ema.")}

    def shard_units(self) -> list[nn.Module]:
        """Each resnet and transformer of the UNet (and of its EMA copy, which shards alike and is never called), then
        the UNet itself (its embeddings, samplers and in/out convolutions). The frozen VAE and encoder stay whole."""
        unets = [self.unet] + ([self.ema.module] if self.ema is not None else [])
        return [unit for unet in unets for unit in unet_units(unet)]

    def bf16_units(self) -> list[nn.Module]:
        return unet_units(self.unet)

    def after_step(self) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.unet)

    @torch.no_grad()
    def conditioning(self, crops: torch.Tensor, captions: list[str], no_face: list[bool],
                     no_text: list[bool]) -> tuple[torch.Tensor, torch.Tensor]:
        """FaceCLIP context and pooled vector; `no_face` rows take the no-face path (as inference without a face),
        `no_text` rows an empty prompt; both is the inference pipeline's negative."""
        features = self.encoder.encode_faces(crops.float() / 255.0)
        face_index = [None if drop else i for i, drop in enumerate(no_face)]
        prompts = ["" if drop else caption for caption, drop in zip(captions, no_text)]
        return self.encoder(features, prompts, face_index)

    def forward(self, batch: Stage2Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean over samples of each one's epsilon MSE; samples of one size (bucket) go through the VAE and UNet together."""
        device = self.alphas_cumprod.device
        seeds = batch.seeds if batch.seeds is not None else torch.randint(0, 2**62, (len(batch.images),))
        down = 2 ** (len(self.vae.config.block_out_channels) - 1)
        latent_channels = self.vae.config.latent_channels
        shapes = [(latent_channels, image.shape[1] // down, image.shape[2] // down) for image in batch.images]
        draws = SampleDraws.draw(seeds, shapes, self.cfg)
        context, pooled = self.conditioning(batch.crops.to(device), batch.captions, draws.no_face, draws.no_text)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(batch.images):
            groups.setdefault(tuple(image.shape), []).append(i)
        total = torch.zeros((), device=device)
        for rows in groups.values():
            images = torch.stack([batch.images[i] for i in rows]).to(device).float() / 127.5 - 1
            with torch.no_grad():
                posterior = self.vae.encode(images).latent_dist
                eps = torch.stack([draws.posterior[i] for i in rows]).to(device)
                latents = (posterior.mean + posterior.std * eps) * self.vae.config.scaling_factor
            noise, t = torch.stack([draws.noise[i] for i in rows]).to(device), draws.timesteps[rows].to(device)
            a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
            noisy = a.sqrt() * latents + (1 - a).sqrt() * noise
            index = torch.tensor(rows, device=device)
            prediction = self.unet(noisy, t, encoder_hidden_states=context[index], added_cond_kwargs={
                "text_embeds": pooled[index], "time_ids": batch.time_ids[rows].to(device)}).sample
            total = total + F.mse_loss(prediction.float(), noise.float()) * len(rows)
        return total / len(batch.images), {}

    def trained_unet(self) -> nn.Module:
        """The weights to export: the EMA when there is one."""
        return self.ema.module if self.ema is not None else self.unet

    def trained_unet_prefix(self) -> str:
        """Where trained_unet's entries are in this objective's state dict."""
        return "ema.module." if self.ema is not None else "unet."


def unet_units(unet: nn.Module) -> list[nn.Module]:
    """A diffusers UNet's resnets and transformers, then the UNet: the FSDP units, each called through forward."""
    blocks = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]
    inner = [m for block in blocks for group in ("resnets", "attentions") for m in getattr(block, group, [])]
    return [*inner, unet]


def load_sdxl(cfg: Stage2Config) -> tuple[nn.Module, nn.Module]:
    """UNet and VAE from a local diffusers SDXL folder (no hub); the UNet optionally from a state-dict file."""
    diffusers = require("diffusers", "Stage 2 (the SDXL UNet and VAE)")
    folder = Path(cfg.model.sdxl)
    for sub in ("unet", "vae"):
        if not (folder / sub / "config.json").is_file():
            raise UsageError(f"model.sdxl = {folder} has no {sub}/config.json: point it to a local diffusers SDXL folder "
                             "(e.g. a download of stabilityai/stable-diffusion-xl-base-1.0 with unet/ and vae/).")
    unet = diffusers.UNet2DConditionModel.from_pretrained(folder / "unet", local_files_only=True, low_cpu_mem_usage=False)
    vae = diffusers.AutoencoderKL.from_pretrained(folder / "vae", local_files_only=True, low_cpu_mem_usage=False)
    if cfg.model.unet:
        state, _ = read_checkpoint(cfg.model.unet, UNET_ADVICE)
        problems = unet.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        if problems.missing_keys or problems.unexpected_keys:
            raise CheckpointError(f"{cfg.model.unet} is not a diffusers-layout UNet for {folder / 'unet'}: "
                                  f"{len(problems.missing_keys)} missing, {len(problems.unexpected_keys)} unexpected keys "
                                  f"(e.g. {(problems.missing_keys + problems.unexpected_keys)[:2]}).")
    return unet, vae


def export_unet(state: dict[str, torch.Tensor], config: Mapping[str, Any], out: Path,
                dtype: torch.dtype = torch.bfloat16) -> list[Path]:
    """A UNet state dict as `unet.pt` (the official layout) and a diffusers `diffusion_pytorch_model.safetensors`
    with its `config.json` (the UNet's diffusers config)."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().to(dtype).contiguous() for k, v in state.items()}
    with atomic_path(out / UNET_PT_NAME) as partial:
        torch.save(state, partial)
    with atomic_path(out / UNET_SAFETENSORS_NAME) as partial:
        save_file(state, str(partial), metadata={"format": "pt"})
    write_text(out / "config.json", json.dumps(dict(config), indent=1, default=str))
    return [out / UNET_PT_NAME, out / UNET_SAFETENSORS_NAME]


def build_objective(cfg: Stage2Config) -> Stage2Objective:
    if not cfg.model.encoder or not Path(cfg.model.encoder).is_file():
        raise UsageError(f"model.encoder = {cfg.model.encoder!r} does not exist: stage 2 needs the FaceCLIP encoder "
                         "(the official face_clip_encoder.pt or a stage-1 export).")
    encoder = encoder_from_file(cfg.model.encoder, cfg.model.architecture)
    unet, vae = load_sdxl(cfg)
    expected = (encoder.config.context_dim, encoder.config.pooled_dim)
    got = (unet.config.cross_attention_dim, unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim)
    if got != expected:
        raise UsageError(f"The UNet expects context/pooled widths {got}, the encoder gives {expected}: use an SDXL UNet with this encoder.")
    return Stage2Objective(unet, vae, encoder, cfg.train, cfg.run.gradient_checkpointing)
