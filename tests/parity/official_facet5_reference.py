"""Run the official FaceT5 encoder (a checkout of github.com/bytedance/FaceCLIP) offline at a reduced size.

    python tests/parity/official_facet5_reference.py OFFICIAL_CHECKOUT OUT_DIR [--seed N]

Writes OUT_DIR/face_t5_encoder.pt (seeded random weights in the released format: torch.save of the
official wrapper's state dict, bf16) and OUT_DIR/reference.safetensors (the official outputs, fp32)
for the cases in CASES, each row computed as the official pipeline calls it: one face, one prompt.

Nothing of the official code is copied here: it is imported from the checkout and built at reduced
widths and depths with its own classes (the sizes of tests/support/tiny_facet5.py). Its hub downloads are
replaced: the T5 tokenizer is transformers' T5TokenizerFast on FLUX's tokenizer.json (the file this
package carries), the CLIP tokenizer transformers' CLIPTokenizer on OpenAI CLIP's BPE. omegaconf,
peft, timm and diffusers are stubbed (the encoder's forward needs none of them); transformers (for
CLIPTextModel and flash-T5's base classes) must be installed.
"""
from __future__ import annotations

import copy
import gzip
import importlib
import json
import os
import sys
from pathlib import Path

import torch
from torch import nn

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "support"), str(Path(__file__).parents[2])]
from official_reference import _StubFinder  # noqa: E402  (the SDXL reference's import stubs)
from reference_files import parse_args, save_reference  # noqa: E402
from tiny_facet5 import random_facet5_state, tiny_facet5_config  # noqa: E402

LONG_PROMPT = "a very detailed portrait photograph of a person in soft window light " * 40  # > 512 T5 tokens
# (face id or None, prompt) per row
CASES = {
    "faces": [(0, "A woman wearing a blue denim shirt and khaki pants, on a rocky desert plateau"), (1, LONG_PROMPT),
              (0, "a man in a suit, studio light")],
    "no_face": [(None, "digital painting, 3d render, CGI, cartoon, anime, worst quality, blurry"), (None, LONG_PROMPT)],
}
FACE_SIZE = 448


def _install_stubs() -> None:
    sys.meta_path.insert(0, _StubFinder({"timm", "omegaconf", "peft", "diffusers", "einops"}))
    layers = importlib.import_module("timm.models.layers")
    layers.DropPath = lambda p: nn.Identity()  # identity in eval mode, which is all we run
    layers.to_2tuple = lambda x: tuple(x) if isinstance(x, (tuple, list)) else (x, x)
    layers.trunc_normal_ = nn.init.trunc_normal_


def _tokenizers(out: Path):
    """transformers' tokenizers on the files FLUX ships (T5: tokenizer.json; CLIP: vocab.json + merges.txt)."""
    from transformers import CLIPTokenizer, T5TokenizerFast

    from faceclip_core.encoders.t5.tokenizers import T5_TOKENIZER_PATH
    from faceclip_core.encoders.tokenizer import TRANSFORMERS, ClipTokenizer

    t5_file = out / "t5_tokenizer.json"
    t5_file.write_bytes(gzip.open(T5_TOKENIZER_PATH).read())
    t5 = T5TokenizerFast(tokenizer_file=str(t5_file), model_max_length=512)
    bpe = ClipTokenizer(cleaning=TRANSFORMERS)
    (out / "vocab.json").write_text(json.dumps(bpe.encoder))
    merges = sorted(bpe.bpe_ranks, key=bpe.bpe_ranks.get)
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    clip = CLIPTokenizer(str(out / "vocab.json"), str(out / "merges.txt"), model_max_length=77,
                         pad_token="<|endoftext|>")
    return clip, t5


def build_official(checkout: Path, out: Path, cfg=None) -> nn.Module:
    """The official wrapper at the sizes of `cfg` (a FaceT5Config; default: the tests' tiny one)."""
    sys.path[:0] = [str(checkout)]
    _install_stubs()
    face_t5 = importlib.import_module("core.face_t5.face_t5")
    flash = importlib.import_module("core.face_t5.flash_t5.model.modeling_flash_t5")
    flash_config = importlib.import_module("core.face_t5.flash_t5.model.configuration_flash_t5")
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = cfg or tiny_facet5_config()
    wrapper = face_t5.FaceT5FluxWrapper.__new__(face_t5.FaceT5FluxWrapper)
    nn.Module.__init__(wrapper)
    wrapper.tokenizer_1, wrapper.tokenizer_2 = _tokenizers(out)
    # FLUX.1-dev's text_encoder config at reduced width and depth
    wrapper.encoder_1 = CLIPTextModel(CLIPTextConfig(
        vocab_size=cfg.clip.vocab_size, hidden_size=cfg.clip.width, intermediate_size=cfg.clip.ffn_dim,
        num_hidden_layers=cfg.clip.layers, num_attention_heads=cfg.clip.heads, max_position_embeddings=77,
        hidden_act="quick_gelu", bos_token_id=0, eos_token_id=2, pad_token_id=1))

    encoder = face_t5.FaceT5Encoder.__new__(face_t5.FaceT5Encoder)
    nn.Module.__init__(encoder)
    encoder.face_encoder = face_t5.VisionTransformer(
        img_size=112, patch_size=9, num_classes=cfg.face.feature_dim, embed_dim=cfg.face.width,
        depth=cfg.face.layers, num_heads=8, drop_path_rate=0.05, norm_layer="ln", mask_ratio=0.05, using_checkpoint=True)
    # configs/…/t5-v1_1-xxl.yaml's model_args at reduced size; the CPU reference attention instead of Triton
    t5_args = dict(d_model=cfg.t5.d_model, num_heads=cfg.t5.heads, d_kv=64, d_ff=cfg.t5.d_ff, num_layers=cfg.t5.layers,
                   vocab_size=cfg.t5.vocab_size, max_sequence_length=512, relative_attention_num_buckets=32,
                   relative_attention_max_distance=128, use_glu_mlp=True, use_gelu_act=True, attention_scale=1.0,
                   position_encoding_type="t5", attention_type="ref", use_triton_layernorm=False,
                   use_triton_crossentropy=False, use_full_bias_size=False, use_masking=False, dropout_rate=0.1)
    t5_config = flash_config.FlashT5Config.from_dict(t5_args)
    encoder_config = copy.deepcopy(t5_config)
    encoder_config.is_decoder = False
    encoder.t5_encoder = flash.FlashT5Stack(encoder_config, nn.Embedding(t5_config.vocab_size, t5_config.d_model))
    encoder.context_length = 512
    encoder.face_patch_proj = nn.Linear(cfg.face.width, cfg.t5.d_model)
    encoder.face_pos_proj = nn.Linear(cfg.face.width, cfg.t5.d_model)
    encoder._register_text_pos_embedding(512, cfg.t5.d_model)
    encoder.fuser = face_t5.TextFaceEmbeddingFuser(
        d_model=cfg.t5.d_model, nhead=8, num_queries=512, num_encoder_layers=cfg.fuser.layers, num_unicoder_layers=0,
        num_decoder_layers=6, use_text_enhancer=True, use_fusion_layer=True, use_text_cross_attention=True,
        dim_feedforward=cfg.fuser.image_ffn_dim, dropout=0.0)
    wrapper.encoder_2 = encoder
    return wrapper.eval()


def _flat_clip(model: nn.Module) -> bool:
    """transformers 5 dropped CLIPTextModel's `text_model.` level; the release (saved under the official pin,
    transformers 4.45.2) has it."""
    return hasattr(model.encoder_1, "embeddings")


def release_key(model: nn.Module, key: str) -> str:
    """The release's name for one of the official model's keys."""
    return key.replace("encoder_1.", "encoder_1.text_model.", 1) if _flat_clip(model) and key.startswith("encoder_1.") else key


def load_release(model: nn.Module, release: dict[str, torch.Tensor]) -> None:
    """A state dict in the release's layout into the official model."""
    rename = (lambda k: k.replace("encoder_1.text_model.", "encoder_1.")) if _flat_clip(model) else (lambda k: k)
    model.load_state_dict({rename(k): v for k, v in release.items()})


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    torch.set_grad_enabled(False)

    model = build_official(args.checkout.resolve(), args.out)
    ours = random_facet5_state(tiny_facet5_config(), args.seed)
    official = {release_key(model, k): v for k, v in model.state_dict().items()}
    if set(ours) != set(official) or any(ours[k].shape != official[k].shape for k in ours):
        only_ours, only_official = sorted(set(ours) - set(official)), sorted(set(official) - set(ours))
        raise SystemExit(f"layouts differ: only ours {only_ours[:5]}, only official {only_official[:5]}, "
                         f"shapes {[k for k in ours if k in official and ours[k].shape != official[k].shape][:5]}")
    # the release is bf16: round once, so both implementations run on identical values
    release = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in ours.items()}
    torch.save(release, args.out / "face_t5_encoder.pt")
    load_release(model, release)
    model.float()

    gen = torch.Generator().manual_seed(args.seed + 1)
    faces = torch.rand(2, 3, FACE_SIZE, FACE_SIZE, generator=gen)
    outputs = {"faces": faces}
    cwd = os.getcwd()
    os.chdir(args.checkout)
    try:
        for case, rows in CASES.items():
            contexts, pooled = [], []
            for face, prompt in rows:  # the official pipeline's call: one face, one prompt
                image = faces[face] if face is not None else torch.zeros_like(faces[0])
                result = model([image], torch.tensor([face is not None]), [prompt], device="cpu")
                contexts.append(result.embeddings.float())
                pooled.append(result.pooled[0].float())
            outputs[f"{case}.context"] = torch.cat(contexts).contiguous()
            outputs[f"{case}.pooled"] = torch.cat(pooled).contiguous()
    finally:
        os.chdir(cwd)

    save_reference(args.out, outputs, CASES, "face_t5_encoder.pt")


if __name__ == "__main__":
    main()
