"""`python -m faceclip_core.idea train` end to end on a tiny diffusers SDXL pipeline, and its diffusers mapping.

The pipeline folder is built here: a UNet2DConditionModel with SDXL's text_time conditioning and 2048-wide
cross-attention, CLIP text towers at SDXL's widths (768, 1280) with two thin layers, a small 8x VAE, and CLIP
tokenizers over a byte-level vocabulary without merges (514 tokens: every word is spelled, so tables stay small).
Skips when the optional extra (requirements-idea.txt) is not installed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from faceclip_core.idea import PLACEHOLDER  # noqa: E402
from faceclip_core.idea import diffusers_sdxl  # noqa: E402
from faceclip_core.idea.__main__ import main  # noqa: E402

START, END = "<|startoftext|>", "<|endoftext|>"


def _byte_vocab() -> dict[str, int]:
    """Byte-level BPE symbols (GPT-2's byte -> printable character map), each alone and word-final."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    chars = [chr(b) if b in printable else chr(next(extra)) for b in range(256)]
    symbols = chars + [c + "</w>" for c in chars] + [START, END]
    return {s: i for i, s in enumerate(symbols)}


def _write_tiny_pipeline(folder: Path) -> None:
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    vocab = _byte_vocab()
    (folder / "vocab.json").parent.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token=END, model_max_length=77)
    torch.manual_seed(0)

    def text_config(width: int) -> CLIPTextConfig:
        return CLIPTextConfig(vocab_size=len(vocab), hidden_size=width, intermediate_size=32, num_hidden_layers=2,
                              num_attention_heads=2, max_position_embeddings=77, projection_dim=width,
                              bos_token_id=vocab[START], eos_token_id=vocab[END], pad_token_id=vocab[END])

    time_dim = 8
    unet = UNet2DConditionModel(
        sample_size=8, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=2048, attention_head_dim=8, addition_embed_type="text_time",
        addition_time_embed_dim=time_dim, projection_class_embeddings_input_dim=1280 + 6 * time_dim, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=1, latent_channels=4,
                        norm_num_groups=8, sample_size=64, scaling_factor=0.13025)
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=CLIPTextModel(text_config(768)),
                                     text_encoder_2=CLIPTextModelWithProjection(text_config(1280)),
                                     tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=EulerDiscreteScheduler())
    pipe.save_pretrained(str(folder / "sdxl"))


@pytest.fixture(scope="module")
def tiny_sdxl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_diffusers")
    _write_tiny_pipeline(folder)
    return folder / "sdxl"


def _photo_folder(folder: Path, photos: dict, names: tuple[str, ...]) -> Path:
    folder.mkdir()
    for name in names:
        Image.fromarray(photos[name]).save(folder / f"{name}.png")
    return folder


def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    with safe_open(str(path), framework="pt") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def _arguments(images: Path, sdxl: Path, face_models: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--images", str(images), "--sdxl", str(sdxl), "--face-models", str(face_models), "--name", "jane",
            "--out", str(out), "--steps", "2", "--batch-size", "2", "--resolution", "64", "--device", "cpu", *extra]


def test_cli_trains_and_writes_both_files(tmp_path, tiny_sdxl_dir, face_models_dir, photos, capsys):
    images = _photo_folder(tmp_path / "photos", {**photos, "mirrored": np.ascontiguousarray(photos["astronaut"][:, ::-1])},
                           ("astronaut", "mirrored"))

    assert main(_arguments(images, tiny_sdxl_dir, face_models_dir, tmp_path / "out")) == 0

    assert _shapes(tmp_path / "out" / "jane.safetensors") == {"clip_l": (2, 768), "clip_g": (2, 1280)}
    with safe_open(str(tmp_path / "out" / "jane.idea.safetensors"), framework="pt") as f:
        assert f.metadata()["steps"] == "2" and any(k.startswith("adapter.") for k in f.keys())
    assert (tmp_path / "out" / "jane.state.pt").is_file()
    assert "step 2/2 loss" in capsys.readouterr().err


def test_a_photo_without_a_face_exits_3_naming_it(tmp_path, tiny_sdxl_dir, face_models_dir, photos, capsys):
    images = _photo_folder(tmp_path / "photos", photos, ("astronaut", "coffee"))

    assert main(_arguments(images, tiny_sdxl_dir, face_models_dir, tmp_path / "out")) == 3
    assert "coffee.png" in capsys.readouterr().err


@pytest.mark.parametrize("change", [("--images", "missing"), ("--sdxl", "missing"), ("--resolution", "100")])
def test_bad_arguments_exit_2(tmp_path, tiny_sdxl_dir, face_models_dir, photos, capsys, change):
    images = _photo_folder(tmp_path / "photos", photos, ("astronaut", "grace_hopper"))
    arguments = _arguments(images, tiny_sdxl_dir, face_models_dir, tmp_path / "out")
    flag, value = change
    arguments[arguments.index(flag) + 1] = str(tmp_path / value) if value == "missing" else value

    assert main(arguments) == 2
    assert "error:" in capsys.readouterr().err


def test_missing_extra_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers -> ImportError

    assert main(["train", "--images", str(tmp_path), "--sdxl", str(tmp_path), "--face-models", str(tmp_path),
                 "--name", "x"]) == 2
    assert "pip install -r requirements-idea.txt" in capsys.readouterr().err


def test_learned_rows_equal_to_word_embeddings_encode_like_the_words(tiny_sdxl_dir):
    """The placeholder mapping is exact: rows taken from the token tables encode as the plain prompt does."""
    sdxl = diffusers_sdxl.load_sdxl(tiny_sdxl_dir)
    encoder = diffusers_sdxl.DiffusersPromptEncoder(sdxl)
    (ids_l, ids_g), tables = encoder.token_ids("x y"), encoder.embedding_tables()
    rows_l, rows_g = tables[0][ids_l].clone().requires_grad_(), tables[1][ids_g].clone().requires_grad_()

    context, pooled = encoder.encode([f"a photo of {PLACEHOLDER} person"], rows_l, rows_g)

    plain = [tokenizer("a photo of x y person", padding="max_length", max_length=77, return_tensors="pt").input_ids
             for tokenizer in sdxl.tokenizers]
    out_l, out_g = (model(ids, output_hidden_states=True) for model, ids in zip(sdxl.text_encoders, plain))
    torch.testing.assert_close(context, torch.cat([out_l.hidden_states[-2], out_g.hidden_states[-2]], dim=-1))
    torch.testing.assert_close(pooled, out_g.text_embeds)
    (context.sum() + pooled.sum()).backward()
    assert rows_l.grad.abs().sum() > 0 and rows_g.grad.abs().sum() > 0
