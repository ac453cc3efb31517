"""Stage-2 validation on generated images: for a few held-out identities, portraits generated with the current
UNet and the frozen encoder, scored by ID-Sim (the face analyser's embedding of the generated face against the
reference photo's, cosine, as papers report it: the mean over images where a face is found) and, given a CLIP
model, the CLIP score of each image against its prompt (clip_score.py).

Sampling is deterministic DDIM (eta 0, "leading" timestep spacing, as diffusers' DDIMScheduler with
steps_offset 1) on the training schedule, with classifier-free guidance against the inference negative
(no face, empty prompt). Each image has its own seed: the scores do not depend on the number of processes.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..face.similarity import id_similarity
from .config import ValidateSection
from .face_analysis import DetectsFaces
from .images import chw, decode
from .shards import ShardInfo, iter_samples


@dataclass
class Reference:
    identity: str
    crop: torch.Tensor  # (3, 448, 448) uint8
    embedding: np.ndarray  # the analyser's embedding of the reference photo (prepare's emb.npy)


def held_out_references(shards: list[ShardInfo], count: int) -> list[Reference]:
    """The first photo of each of the first `count` identities in the held-out shards."""
    references: dict[str, Reference] = {}
    for shard in shards:
        for _, sample in iter_samples(shard.url):
            identity = json.loads(sample["json"])["identity"]
            if identity not in references and len(references) < count:
                embedding = np.load(io.BytesIO(sample["emb.npy"]))
                references[identity] = Reference(identity, chw(decode(sample["crop.png"])), embedding)
    return list(references.values())


@torch.no_grad()
def generate(objective, crop: torch.Tensor, prompt: str, cfg: ValidateSection, height: int, width: int,
             seed: int) -> np.ndarray:
    """One portrait (height, width, 3) uint8 of the face in `crop` (3, 448, 448) uint8 following `prompt`."""
    device = objective.alphas_cumprod.device
    encoder, unet, vae = objective.encoder, objective.trained_unet(), objective.vae  # the EMA when there is one
    context, pooled = encoder(encoder.encode_faces(crop[None].float() / 255.0), [prompt], [0])
    negative, negative_pooled = encoder(None, [""], [None])
    context, pooled = torch.cat([negative, context]), torch.cat([negative_pooled, pooled])
    time_ids = torch.tensor([[height, width, 0, 0, height, width]] * 2, dtype=torch.float32, device=device)
    down = 2 ** (len(vae.config.block_out_channels) - 1)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, vae.config.latent_channels, height // down, width // down, generator=generator).to(device)
    alphas = objective.alphas_cumprod
    stride = len(alphas) // cfg.steps
    timesteps = [i * stride + 1 for i in reversed(range(cfg.steps))]
    for i, t in enumerate(timesteps):
        a, a_prev = alphas[t], alphas[timesteps[i + 1]] if i + 1 < len(timesteps) else alphas[0]
        eps_negative, eps = unet(torch.cat([x, x]), torch.tensor([t, t], device=device), encoder_hidden_states=context,
                                 added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}).sample.float().chunk(2)
        eps = eps_negative + cfg.guidance * (eps - eps_negative)
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    image = vae.decode(x / vae.config.scaling_factor).sample[0].float()
    return ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def face_embedding(analyzer: DetectsFaces, image: np.ndarray) -> np.ndarray | None:
    """The largest detected face's embedding, or None when the image has no face."""
    faces = analyzer.detect(image)
    if not faces:
        return None
    largest = max(faces, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
    return np.asarray(largest.embedding)


class GenerationValidator:
    """Scores the current stage-2 objective: val/id_sim (NaN when no generated image has a face), val/face_found,
    and with a CLIP scorer val/clip_score (the mean over images)."""

    def __init__(self, shards: list[ShardInfo], cfg: ValidateSection, resolution: int, analyzer: DetectsFaces,
                 clip: Callable[[list[np.ndarray], list[str]], list[float]] | None = None):
        self.cfg, self.resolution = cfg, resolution
        self.references = held_out_references(shards, cfg.identities)
        self.analyzer, self.clip = analyzer, clip

    def images(self, objective) -> list[tuple[Reference, str, np.ndarray]]:
        out = []
        for i, reference in enumerate(self.references):
            for j in range(self.cfg.images_per_identity):
                prompt = self.cfg.prompts[j % len(self.cfg.prompts)]
                seed = self.cfg.seed + i * self.cfg.images_per_identity + j
                out.append((reference, prompt, generate(objective, reference.crop, prompt, self.cfg, self.resolution,
                                                        self.resolution, seed)))
        return out

    def __call__(self, objective) -> dict[str, float]:
        generated = self.images(objective)
        scores = []
        for reference, _, image in generated:
            scores += id_similarity(reference.embedding, [face_embedding(self.analyzer, image)]).scores
        found = [s for s in scores if s is not None]
        result = {"val/id_sim": float(np.mean(found)) if found else float("nan"),
                  "val/face_found": len(found) / max(1, len(scores))}
        if self.clip is not None:
            result["val/clip_score"] = float(np.mean(self.clip([g[2] for g in generated], [g[1] for g in generated])))
        return result
