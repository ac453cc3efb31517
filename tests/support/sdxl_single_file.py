"""A diffusers SDXL pipeline folder written back as one checkpoint in Stability's original (LDM/SGM) key layout,
the layout of sd_xl_base_1.0.safetensors that StableDiffusionXLPipeline.from_single_file reads.

Key prefixes are those of tiny_checkpoint.py. The key mapping is written out here, apart from diffusers' own
conversion, so a test that loads the file through diffusers and compares every weight checks the two against
each other. It covers what a diffusers SDXL UNet and AutoencoderKL hold, at any number of levels and layers.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
CLIP_G_PREFIX = "conditioner.embedders.1.model."

UNET_FIXED = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
              "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
              "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
               "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
CLIP_G_LAYER = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1", "layer_norm2": "ln_2",
                "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}


def _rename(rest: str, table: dict[str, str]) -> str:
    for old, new in table.items():
        if rest.startswith(old + "."):
            return new + rest[len(old):]
    return rest


def unet_to_original(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    per_block = config["layers_per_block"]  # an int for SDXL; a level takes per_block + 1 blocks on either side
    up_attention = {i for i, kind in enumerate(config["up_block_types"]) if "CrossAttn" in kind}
    out = {}
    for key, value in state.items():
        if (name := _rename(key, UNET_FIXED)) != key:
            out[name] = value
        elif m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            block, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = block * (per_block + 1) + j + 1
            out[f"input_blocks.{index}.0.{_rename(rest, UNET_RESNET)}" if kind == "resnets"
                else f"input_blocks.{index}.1.{rest}"] = value
        elif m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            out[f"input_blocks.{(int(m[1]) + 1) * (per_block + 1)}.0.op.{m[2]}"] = value
        elif m := re.match(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            out[f"middle_block.{2 * int(m[1])}.{_rename(m[2], UNET_RESNET)}"] = value
        elif m := re.match(r"mid_block\.attentions\.0\.(.+)", key):
            out[f"middle_block.1.{m[1]}"] = value
        elif m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            block, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = block * (per_block + 1) + j
            out[f"output_blocks.{index}.0.{_rename(rest, UNET_RESNET)}" if kind == "resnets"
                else f"output_blocks.{index}.1.{rest}"] = value
        elif m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            block = int(m[1])  # the level's last output block: res block, attention if the level has one, upsampler
            index = block * (per_block + 1) + per_block
            out[f"output_blocks.{index}.{2 if block in up_attention else 1}.conv.{m[2]}"] = value
        else:
            raise KeyError(f"no original-layout name for UNet key {key}")
    return out


def vae_to_original(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    levels = len(config["up_block_types"])
    out = {}
    for key, value in state.items():
        key = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        key = re.sub(r"encoder\.down_blocks\.(\d+)\.resnets", r"encoder.down.\1.block", key)
        key = re.sub(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0", r"encoder.down.\1.downsample", key)
        key = re.sub(r"decoder\.up_blocks\.(\d+)\.(resnets|upsamplers\.0)",  # the original counts up levels from the bottom
                     lambda m: f"decoder.up.{levels - 1 - int(m[1])}.{'block' if m[2] == 'resnets' else 'upsample'}", key)
        key = re.sub(r"mid_block\.resnets\.(\d+)", lambda m: f"mid.block_{int(m[1]) + 1}", key)
        if m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)", key):
            key = f"{m[1]}.mid.attn_1.{_rename(m[2], VAE_ATTENTION)}"
            value = value if value.dim() == 1 else value[..., None, None]  # the original's q/k/v/proj_out are 1x1 convs
        out[key] = value
    return out


def open_clip_to_original(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CLIPTextModelWithProjection -> OpenCLIP's text tower: fused q/k/v, resblocks, projection stored transposed."""
    state = {k.removeprefix("text_model."): v for k, v in state.items()}
    out = {"token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
           "positional_embedding": state.pop("embeddings.position_embedding.weight"),
           "text_projection": state.pop("text_projection.weight").T.contiguous()}
    for key, value in state.items():
        if key.startswith("final_layer_norm."):
            out[key.replace("final_layer_norm", "ln_final")] = value
            continue
        m = re.match(r"encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", key)
        block, rest, kind = f"transformer.resblocks.{m[1]}", m[2], m[3]
        if rest == "self_attn.q_proj":  # k and v go with q
            fused = [state[f"encoder.layers.{m[1]}.self_attn.{p}_proj.{kind}"] for p in "qkv"]
            out[f"{block}.attn.in_proj_{kind}"] = torch.cat(fused)
        elif rest not in ("self_attn.k_proj", "self_attn.v_proj"):
            out[f"{block}.{CLIP_G_LAYER[rest]}.{kind}"] = value
    return out


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(next(folder.glob("*.safetensors"))))


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def write_single_file(pipeline: Path, path: Path) -> Path:
    """The pipeline folder's UNet, VAE and both text towers in one original-layout .safetensors at `path`."""
    # the original keeps CLIP-L's text_model. prefix, which CLIPTextModel dropped in transformers 5.6
    clip_l = {k if k.startswith("text_model.") else f"text_model.{k}": v
              for k, v in _weights(pipeline / "text_encoder").items()}
    parts = {UNET_PREFIX: unet_to_original(_weights(pipeline / "unet"), _config(pipeline / "unet")),
             VAE_PREFIX: vae_to_original(_weights(pipeline / "vae"), _config(pipeline / "vae")),
             CLIP_L_PREFIX: clip_l, CLIP_G_PREFIX: open_clip_to_original(_weights(pipeline / "text_encoder_2"))}
    save_file({prefix + k: v.contiguous() for prefix, part in parts.items() for k, v in part.items()}, str(path))
    return path


def copy_configs(pipeline: Path, folder: Path) -> Path:
    """The pipeline folder without its weights: what `from_single_file(config=...)` reads, as diffusers itself
    fetches it from the hub (*.json, *.txt)."""
    shutil.copytree(pipeline, folder, ignore=lambda _dir, names: [n for n in names if n.endswith(".safetensors")])
    return folder
