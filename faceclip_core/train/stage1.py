"""Stage 1: align each FaceCLIP branch's fused output with the face, text and image spaces of frozen encoders.

Trainable (as the official code leaves them): proj1, face_patch_proj, face_pos_proj, text_embed_proj,
text_pos_proj, fuser (except enc_output*, which is off the forward path), logit_scale, logit_bias, and
the training heads. Frozen: the face ViT, the CLIP text tower (still on the gradient path: the identity
token enters it) and the CLIP image tower.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.sdxl.branch import FaceCLIPBranch
from ..errors import UsageError
from ..encoders.sdxl.model import FaceCLIPEncoder
from . import distributed
from .config import LossSection, Stage1Config
from .heads import PooledHead
from .images import chw, decode, square
from .losses import LOSSES, same_identity_pairs
from .loop import Objective
from .shards import Sample
from .stage1_init import check_paths, initial_encoder
from .vision_tower import VisionTower, clip_pixels, load_vision_tower

TRAINABLE_PREFIXES = ("proj1.", "face_patch_proj.", "face_pos_proj.", "text_embed_proj.", "text_pos_proj.", "fuser.", "logit_")


def is_trainable(name: str, fusion_layers: int) -> bool:
    """Whether a branch parameter trains in stage 1: the trainable parts, less those off the forward path
    (enc_output*, and the last fusion layer's image-side updates, which the text output never reads)."""
    last = fusion_layers - 1
    off_path = (
        "fuser.enc_output",
        f"fuser.encoder.layers.{last}.",
        f"fuser.encoder.fusion_layers.{last}.attn.values_l_proj.",
        f"fuser.encoder.fusion_layers.{last}.attn.out_v_proj.",
        f"fuser.encoder.fusion_layers.{last}.gamma_v",
    )
    return name.startswith(TRAINABLE_PREFIXES) and not name.startswith(off_path)


@dataclass
class Stage1Batch:
    crops: torch.Tensor  # (B, 3, 448, 448) uint8
    images: torch.Tensor  # (B, 3, S, S) uint8, the photo resized and centre-cropped for the CLIP image tower
    captions: list[str]
    identity: torch.Tensor  # (B,) int64 hash of the identity label


def identity_id(label: str) -> int:
    """A stable 63-bit id per identity label (the same in every process and run)."""
    return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "little") >> 1


class Stage1Decoder:
    """Shard sample -> (crop, CLIP-sized image, caption, identity); picklable, no model inside."""

    def __init__(self, image_size: int):
        self.image_size = image_size

    def __call__(self, key: str, sample: Sample) -> tuple[torch.Tensor, torch.Tensor, str, int]:
        try:
            crop = chw(decode(sample["crop.png"]))
            image, _, _ = square(decode(sample["jpg"]), self.image_size)
            meta = json.loads(sample["json"])
            return crop, image, sample["txt"].decode("utf-8"), identity_id(meta["identity"])
        except KeyError as exc:
            raise UsageError(f"Sample {key} lacks {exc}: the shards were not written by `prepare`, or are damaged.") from exc


def collate(items: list[tuple[torch.Tensor, torch.Tensor, str, int]]) -> Stage1Batch:
    crops, images, captions, ids = zip(*items)
    return Stage1Batch(torch.stack(crops), torch.stack(images), list(captions), torch.tensor(ids, dtype=torch.long))


class BranchHeads(nn.Module):
    """What stage 1 adds to one branch: its two training heads and its frozen CLIP image tower."""

    def __init__(self, branch: FaceCLIPBranch, image_tower: VisionTower | None, pooling: str):
        super().__init__()
        cfg = branch.cfg
        self.image_tower = image_tower
        self.identity_head = PooledHead(cfg.text.width, cfg.text.context_length, cfg.face.feature_dim, pooling)
        self.text_head = PooledHead(cfg.text.width, cfg.text.context_length, cfg.text.width, pooling)


def clip_text(branch: FaceCLIPBranch, ids: torch.Tensor, id_slots: torch.Tensor, id_token: torch.Tensor) -> torch.Tensor:
    """The frozen tower's CLIP text embedding: end-token state -> text_projection -> L2 norm."""
    states = branch.encode_text(ids, id_slots, id_token)
    return F.normalize(states[torch.arange(len(ids), device=ids.device), ids.argmax(dim=-1)] @ branch.text_projection, dim=-1)


class Stage1Objective(Objective):
    def __init__(self, encoder: FaceCLIPEncoder, image_towers: dict[str, VisionTower | None], branches: list[str],
                 loss: LossSection, pooling: str = "flatten", gradient_checkpointing: bool = False):
        super().__init__()
        self.encoder = encoder
        self.loss_cfg = loss
        self.branch_names = branches
        self.parts = nn.ModuleDict({
            name: BranchHeads(self.branch(name), image_towers.get(name), pooling)
            for name in branches
        })
        encoder.requires_grad_(False)
        for name in branches:
            branch = self.branch(name)
            for param_name, param in branch.named_parameters():
                param.requires_grad_(is_trainable(param_name, branch.cfg.fusion.layers))
            branch.transformer.grad_checkpointing = gradient_checkpointing

    def branch(self, name: str) -> FaceCLIPBranch:
        return getattr(self.encoder, f"face_clip_{name}")

    def frozen_modules(self) -> list[nn.Module]:
        towers = [p.image_tower for p in self.parts.values() if p.image_tower is not None]
        return [self.encoder.face_clip_l.face_encoder, self.encoder.face_clip_g.face_encoder, *towers]

    def shard_units(self) -> list[nn.Module]:
        """Per branch: the text tower's and the face ViT's blocks (the branch reads the ViT's pos_embed outside its
        forward), the heads, the image towers' blocks and towers; then the objective itself (what is left: the
        trained projections and fuser, embeddings, the untrained branch)."""
        units: list[nn.Module] = []
        for name, part in self.parts.items():
            branch = self.branch(name)
            units += [*branch.transformer.resblocks, *branch.face_encoder.blocks, part.identity_head, part.text_head]
            if part.image_tower is not None:
                units += [*part.image_tower.transformer.resblocks, part.image_tower]
        return [*units, self]

    def embed(self, name: str, crops: torch.Tensor, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(fused (B,77,w), token ids, identity feature target, identity token) of one branch for a batch."""
        branch = self.branch(name)
        with torch.no_grad():  # frozen and not on the gradient path
            tokens, identity = branch.face_encoder(crops.float() / 255.0)
        face = branch.project_face(tokens, identity)
        ids, id_slots = self.encoder.tokenize(captions, [True] * len(captions))
        fused, _ = branch(ids, id_slots, face)
        return fused, ids, F.normalize(identity.float(), dim=-1), face.id_token

    def forward(self, batch: Stage1Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        device = self.encoder.compute_device
        crops, images = batch.crops.to(device), batch.images.to(device)
        exclude = None
        if self.loss_cfg.mask_same_identity:
            exclude = same_identity_pairs(distributed.gather(batch.identity.to(device)))
        loss_fn = LOSSES[self.loss_cfg.kind]
        total = torch.zeros((), device=device)
        metrics: dict[str, torch.Tensor] = {}
        for name, part in self.parts.items():
            fused, ids, face_target, id_token = self.embed(name, crops, batch.captions)
            with torch.no_grad():
                text_target = self._text_target(self.branch(name), batch.captions, id_token)
                image_target = self._image_target(part, images, crops)
            identity_pred = part.identity_head(fused, ids)
            text_pred = part.text_head(fused, ids)
            scale, bias = self.branch(name).logit_scale, self.branch(name).logit_bias
            terms = {"face": (self.loss_cfg.face_weight, identity_pred, face_target),
                     "text": (self.loss_cfg.text_weight, text_pred, text_target),
                     "image": (self.loss_cfg.image_weight, text_pred, image_target)}
            for term, (weight, pred, target) in terms.items():
                if weight == 0:
                    continue
                value = loss_fn(distributed.gather(pred.float()), distributed.gather(target.float()), scale, bias, exclude=exclude)
                metrics[f"{name}/{term}"] = value.detach()
                total = total + weight * value
        return total, metrics

    def _text_target(self, branch: FaceCLIPBranch, captions: list[str], id_token: torch.Tensor) -> torch.Tensor:
        """The caption's CLIP text embedding: plain (default), or with the id prefix and this face's id token."""
        with_face = self.loss_cfg.text_target == "prefixed"
        ids, slots = self.encoder.tokenize(captions, [with_face] * len(captions))
        return clip_text(branch, ids, slots, id_token if with_face else torch.zeros_like(id_token))

    def _image_target(self, part: BranchHeads, images: torch.Tensor, crops: torch.Tensor) -> torch.Tensor | None:
        if self.loss_cfg.image_weight == 0:
            return None
        size = part.image_tower.cfg.image_size
        source = images if self.loss_cfg.image_target == "full" else crops
        return part.image_tower(clip_pixels(source.float() / 255.0, size))

    @torch.no_grad()
    def identity_embedding(self, crops: torch.Tensor, captions: list[str], name: str) -> torch.Tensor:
        """The joint embedding validation ranks by: the identity head over the fused output."""
        fused, ids, _, _ = self.embed(name, crops.to(self.encoder.compute_device), captions)
        return self.parts[name].identity_head(fused, ids)


def build_objective(cfg: Stage1Config) -> Stage1Objective:
    """The stage-1 model from a run config: starting encoder, frozen image towers, fresh heads (seeded)."""
    model = cfg.model
    unknown = sorted(set(model.branches) - {"l", "g"})
    if unknown or not model.branches:
        raise UsageError(f"model.branches = {model.branches}: list 'l', 'g' or both.")
    check_paths(model, model.branches, cfg.loss.image_weight)
    encoder = initial_encoder(model, cfg.run.seed)
    towers = {}
    if cfg.loss.image_weight > 0:
        towers = {name: load_vision_tower(getattr(model, f"image_tower_{name}"), getattr(model, f"image_arch_{name}"))
                  for name in model.branches}
    torch.manual_seed(cfg.run.seed)  # the heads start equal in every process
    return Stage1Objective(encoder, towers, model.branches, cfg.loss, model.pooling, cfg.run.gradient_checkpointing)


def image_size(objective: Stage1Objective) -> int:
    """The size batches carry photos at: the largest input of the image towers (224 when there are none)."""
    sizes = [p.image_tower.cfg.image_size for p in objective.parts.values() if p.image_tower is not None]
    return max(sizes, default=224)
