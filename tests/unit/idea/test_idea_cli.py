"""`python -m faceclip_core.idea train` end to end on a tiny diffusers SDXL pipeline, and its diffusers mapping.

The pipeline folder is built here: a UNet2DConditionModel with SDXL's text_time conditioning and 2048-wide
cross-attention, CLIP text towers at SDXL's widths (768, 1280) with two thin layers, a small 8x VAE, and CLIP
tokenizers over a byte-level vocabulary without merges (514 tokens: every word is spelled, so tables stay small).
The same pipeline written as a single-file checkpoint in the original layout (sdxl_single_file.py) checks the
`from_single_file` branch, offline, with and without a config folder.
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
import sdxl_single_file  # noqa: E402  (tests/support/, on sys.path through conftest.py)

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


@pytest.fixture(scope="module")
def tiny_single_file(tiny_sdxl_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny pipeline as an original-layout sd_xl_base_1.0.safetensors, and its config files without weights."""
    folder = tmp_path_factory.mktemp("tiny_single_file")
    return (sdxl_single_file.write_single_file(tiny_sdxl_dir, folder / "sd_xl_base_1.0.safetensors"),
            sdxl_single_file.copy_configs(tiny_sdxl_dir, folder / "config"))


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub and an empty cache: nothing comes from, or lands in, the user's real one. huggingface_hub reads
    its environment once, at import, so its constants are set as well."""
    from huggingface_hub import constants

    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))


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


def _two_photos(folder: Path, photos: dict) -> Path:
    return _photo_folder(folder, {**photos, "mirrored": np.ascontiguousarray(photos["astronaut"][:, ::-1])},
                         ("astronaut", "mirrored"))


def test_cli_trains_and_writes_both_files(tmp_path, tiny_sdxl_dir, face_models_dir, photos, capsys):
    images = _two_photos(tmp_path / "photos", photos)

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


def test_single_file_checkpoint_loads_offline_with_a_config_folder(tiny_sdxl_dir, tiny_single_file, offline_hub):
    checkpoint, config = tiny_single_file

    loaded, reference = diffusers_sdxl.load_sdxl(checkpoint, config=config), diffusers_sdxl.load_sdxl(tiny_sdxl_dir)

    for part, expected in zip((loaded.unet, loaded.vae, *loaded.text_encoders),
                              (reference.unet, reference.vae, *reference.text_encoders)):
        state, expected_state = part.state_dict(), expected.state_dict()
        assert state.keys() == expected_state.keys()
        for key, value in expected_state.items():
            assert torch.equal(state[key], value), key
    text = "a photo of jane"
    assert [t(text).input_ids for t in loaded.tokenizers] == [t(text).input_ids for t in reference.tokenizers]
    assert loaded.vae.config.scaling_factor == reference.vae.config.scaling_factor


def test_single_file_runs_in_the_asked_dtype_with_the_vae_in_float32(tiny_single_file, offline_hub):
    """from_single_file takes one dtype for every part: the VAE is upcast after loading, as from_pretrained keeps it."""
    checkpoint, config = tiny_single_file

    sdxl = diffusers_sdxl.load_sdxl(checkpoint, dtype=torch.bfloat16, config=config)

    assert [m.dtype for m in (sdxl.unet, *sdxl.text_encoders)] == [torch.bfloat16] * 3 and sdxl.vae.dtype == torch.float32


def test_cli_trains_from_a_single_file_checkpoint_offline(tmp_path, tiny_single_file, face_models_dir, photos, offline_hub):
    checkpoint, config = tiny_single_file
    images = _two_photos(tmp_path / "photos", photos)

    assert main(_arguments(images, checkpoint, face_models_dir, tmp_path / "out", "--sdxl-config", str(config))) == 0

    assert _shapes(tmp_path / "out" / "jane.safetensors") == {"clip_l": (2, 768), "clip_g": (2, 1280)}
    assert (tmp_path / "out" / "jane.idea.safetensors").is_file()


def test_single_file_without_config_offline_exits_2_naming_the_fix(tmp_path, tiny_single_file, face_models_dir, photos,
                                                                  offline_hub, capsys):
    images = _two_photos(tmp_path / "photos", photos)

    assert main(_arguments(images, tiny_single_file[0], face_models_dir, tmp_path / "out")) == 2

    err = capsys.readouterr().err
    assert "sd_xl_base_1.0.safetensors" in err and "config files" in err
    assert "Go online once" in err and "--sdxl-config" in err and "stabilityai/stable-diffusion-xl-base-1.0" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["config without model_index.json", "config beside a diffusers folder"])
def test_bad_sdxl_config_exits_2(tmp_path, tiny_sdxl_dir, tiny_single_file, face_models_dir, photos, capsys, case):
    checkpoint, config = tiny_single_file
    sdxl, config = (checkpoint, tmp_path) if case == "config without model_index.json" else (tiny_sdxl_dir, config)
    images = _two_photos(tmp_path / "photos", photos)

    assert main(_arguments(images, sdxl, face_models_dir, tmp_path / "out", "--sdxl-config", str(config))) == 2
    assert "--sdxl-config" in capsys.readouterr().err


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


def test_gradient_checkpointing_passes_the_same_gradient_to_the_context(tiny_sdxl_dir):
    sdxl = diffusers_sdxl.load_sdxl(tiny_sdxl_dir)
    torch.manual_seed(0)
    x_t, t = torch.randn(1, 4, 8, 8), torch.tensor([500])
    context, pooled = torch.randn(1, 77, 2048), torch.randn(1, 1280)

    def context_grad(denoiser: diffusers_sdxl.DiffusersDenoiser) -> torch.Tensor:
        leaf = context.clone().requires_grad_()
        denoiser(x_t, t, leaf, pooled).square().sum().backward()
        return leaf.grad

    plain = context_grad(diffusers_sdxl.DiffusersDenoiser(sdxl, 64, gradient_checkpointing=False))
    assert not sdxl.unet.is_gradient_checkpointing
    checkpointed = context_grad(diffusers_sdxl.DiffusersDenoiser(sdxl, 64))
    assert sdxl.unet.is_gradient_checkpointing
    torch.testing.assert_close(checkpointed, plain)
