"""Tiny training fixtures: a stand-in face analyser, synthetic captioned photos, tiny frozen towers and run configs."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from faceclip_core.train.face_analysis import DetectedFace
from faceclip_core.train.vision_tower import VISION_ARCHS, VisionTower
from tiny_faceclip import make_tiny_encoder, write_safetensors

PHOTO_SIZE = 64
REPO = Path(__file__).resolve().parents[2]


class StandInAnalyzer:
    """Reads the scenario a synthetic photo encodes in its top-left pixel: R = faces, G = score x 100, B = face side / 4.

    The crop is the photo resized to 448 (so photos of one person give similar crops), the embedding a
    fixed random vector per photo.
    """

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        faces, score, side = int(image[0, 0, 0]), image[0, 0, 1] / 100.0, float(image[0, 0, 2]) * 4
        crop = np.asarray(Image.fromarray(image).resize((448, 448), Image.BILINEAR))
        rng = np.random.default_rng(int(image.sum()))
        return [
            DetectedFace(bbox=np.array([0, 0, side, side]), kps=np.zeros((5, 2)), score=float(score), crop=crop,
                         embedding=rng.standard_normal(512).astype(np.float32))
            for _ in range(faces)
        ]


def photo(identity: int, variant: int, faces: int = 1, score: float = 0.9, face_side: int = 200,
          size: int = PHOTO_SIZE) -> Image.Image:
    """A smooth synthetic 'portrait': the identity sets the colours, the variant shifts them a little."""
    rng = np.random.default_rng(1000 * identity + variant)
    base = np.random.default_rng(identity).uniform(40, 215, 3)
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = base + 30 * np.stack([np.sin(6 * xx + identity), np.cos(5 * yy + variant), xx * yy], -1) + rng.normal(0, 3, 3)
    array = np.clip(image, 0, 255).astype(np.uint8)
    array[0, 0] = (faces, round(score * 100), face_side // 4)
    return Image.fromarray(array)


def write_photo_folder(root: Path, identities: int = 4, per_identity: int = 3) -> Path:
    """root/person{i}/photo{j}.png with sidecar captions."""
    for i in range(identities):
        folder = root / f"person{i}"
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(per_identity):
            photo(i, j).save(folder / f"photo{j}.png")
            (folder / f"photo{j}.txt").write_text(f"a person {j} in a {['garden', 'city', 'studio'][j % 3]}")
    return root


def write_vision_tower(path: Path, arch: str, seed: int) -> Path:
    """An open_clip-layout checkpoint holding only `visual.*`, as the frozen image target."""
    torch.manual_seed(seed)
    tower = VisionTower(VISION_ARCHS[arch])
    save_file({f"visual.{k}": v.contiguous() for k, v in tower.state_dict().items()}, str(path))
    return path


def write_open_clip(path: Path, seed: int = 3) -> Path:
    """A tiny open_clip-layout CLIP checkpoint (architecture "tiny-l"): a tiny encoder's L text tower with a random
    image tower and open_clip's logit_scale."""
    from faceclip_core.train.clip_score import TEXT_PREFIXES

    text = {k: v for k, v in make_tiny_encoder(seed=seed).face_clip_l.state_dict().items() if k.startswith(TEXT_PREFIXES)}
    torch.manual_seed(seed)
    visual = {f"visual.{k}": v for k, v in VisionTower(VISION_ARCHS["tiny-l"]).state_dict().items()}
    save_file({**text, **visual, "logit_scale": torch.tensor(4.6052)}, str(path))
    return path


def write_models(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "encoder": write_safetensors(make_tiny_encoder(), folder / "tiny_encoder.safetensors"),
        "image_tower_l": write_vision_tower(folder / "clip_l.safetensors", "tiny-l", 1),
        "image_tower_g": write_vision_tower(folder / "clip_g.safetensors", "tiny-g", 2),
    }


def stage1_config(path: Path, data: Path, models: dict[str, Path], out: Path, steps: int, batch: int = 4,
                  streams: int = 2, extra: str = "", run: str = "", data_keys: str = "") -> Path:
    """`extra` is appended (new tables); `run` and `data_keys` go into the [run] and [data] tables."""
    path.write_text("[run]\n" + run + textwrap.dedent(f"""\
        out = "{out}"
        steps = {steps}
        batch_size = {batch}
        log_every = 1
        save_every = 2
        validate_every = 100
        gradient_checkpointing = false

        [data]
        train = "{data / 'train'}"
        streams = {streams}
        prefetch = false
        """) + data_keys + textwrap.dedent(f"""
        [model]
        encoder = "{models['encoder']}"
        image_tower_l = "{models['image_tower_l']}"
        image_tower_g = "{models['image_tower_g']}"
        image_arch_l = "tiny-l"
        image_arch_g = "tiny-g"

        [optim]
        lr = 1e-3
        warmup_steps = 0
        """) + extra)
    return path


def write_tiny_sdxl(folder: Path, context_dim: int, pooled_dim: int) -> Path:
    """A diffusers folder with an SDXL-shaped UNet (text_time added conditioning, cross-attention on the
    FaceCLIP context) and a VAE, both a few hundred kB."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(0)
    time_dim = 8
    UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8, cross_attention_dim=context_dim, attention_head_dim=(2, 4), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=pooled_dim + 6 * time_dim,
    ).save_pretrained(folder / "unet")
    AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8), norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    ).save_pretrained(folder / "vae")
    return folder


def stage2_config(path: Path, data: Path, encoder: Path, sdxl: Path, out: Path, steps: int, extra: str = "",
                  train: str = "", run: str = "", data_keys: str = "") -> Path:
    """`extra` is appended (new tables); `train`, `run` and `data_keys` go into the [train], [run] and [data] tables."""
    path.write_text("[run]\n" + run + textwrap.dedent(f"""\
        out = "{out}"
        steps = {steps}
        batch_size = 2
        log_every = 1
        save_every = 2
        gradient_checkpointing = true

        [data]
        train = "{data / 'train'}"
        streams = 2
        prefetch = false
        """) + data_keys + textwrap.dedent(f"""
        [model]
        sdxl = "{sdxl}"
        encoder = "{encoder}"

        [train]
        resolution = 32
        cond_dropout = 0.5
        """) + train + textwrap.dedent("""
        [optim]
        lr = 1e-4
        warmup_steps = 0
        """) + extra)
    return path


def logged(out: Path, tag: str) -> list[float]:
    """The TensorBoard scalars a run wrote under `tag`, in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    return [e.value for e in events.Scalars(tag)]


def torchrun(stage: str, config: Path, processes: int = 2) -> None:
    """`python -m faceclip_core.train STAGE --config CONFIG` under torchrun with CPU processes (gloo)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
         "-m", "faceclip_core.train", stage, "--config", str(config)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def sharded_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The whole trainable weights of an FSDP (DCP) checkpoint folder, as one process would hold them."""
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    from faceclip_core.train.parallel import one_process_is_meant

    whole = checkpoint.parent / (checkpoint.name + ".whole.pt")
    with one_process_is_meant():
        dcp_to_torch_save(checkpoint / "sharded", whole)
    return torch.load(whole, weights_only=True)["weights"]


def assert_same_training_state(expected: dict, actual: dict) -> None:
    """Two checkpoints' state.pt hold bit-identical trained weights, data position and AdamW second moments."""
    assert actual["position"] == expected["position"] and actual["step"] == expected["step"]
    for key, value in expected["weights"].items():
        torch.testing.assert_close(actual["weights"][key], value, atol=0, rtol=0, msg=key)
    for a, b in zip(expected["optimizer"]["state"].values(), actual["optimizer"]["state"].values()):
        torch.testing.assert_close(b["exp_avg_sq"], a["exp_avg_sq"], atol=0, rtol=0)
