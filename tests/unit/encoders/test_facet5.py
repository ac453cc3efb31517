"""FaceT5 (FaceCLIP's FLUX encoder): loading in the release's layout, batching, no-face path, storage dtypes,
T5 from a stock T5-XXL file, the encode/convert commands. Parity with the official code: test_facet5_parity.py."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from faceclip_core.cli import main as cli_main
from faceclip_core.encoders.t5.checkpoint import read_facet5_state, t5_differences, t5xxl_to_release
from faceclip_core.encoders.t5.config import T5_PREFIX
from faceclip_core.encoders.t5.loader import load_facet5
from faceclip_core.errors import CheckpointError, UsageError
from tiny_facet5 import write_tiny_facet5

PROMPTS = ["A woman wearing a blue denim shirt, on a rocky desert plateau", "a man in a suit, studio light",
           "worst quality, blurry"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_tiny_facet5(tmp_path_factory.mktemp("facet5") / "face_t5_encoder.pt")


@pytest.fixture(scope="module")
def encoder(weights):
    return load_facet5(weights)


@pytest.fixture(scope="module")
def faces():
    return torch.rand(2, 448, 448, 3, generator=torch.Generator().manual_seed(3))


def test_loads_the_release_layout_key_for_key(weights, encoder):
    released = torch.load(weights, weights_only=True)
    assert set(encoder.state_dict()) == set(released)
    assert all(encoder.state_dict()[k].shape == v.shape for k, v in released.items())
    # values are the file's (bf16 values, computed in fp32)
    key = T5_PREFIX + "block.1.ff_layer.act.wi_0.weight"
    assert torch.equal(encoder.state_dict()[key], released[key].float())
    assert not any(p.is_meta for p in encoder.parameters())


def test_architecture_is_read_from_shapes(tmp_path):
    path = write_tiny_facet5(tmp_path / "other.pt", t5_layers=3, t5_heads=1, d_ff=80, fuser_layers=3, clip_layers=1)
    model = load_facet5(path)
    cfg = model.config
    assert (cfg.t5.layers, cfg.t5.heads, cfg.t5.inner_dim, cfg.t5.d_ff, cfg.fuser.layers, cfg.clip.layers) == (3, 1, 64, 80, 3, 1)
    context, pooled = model.encode(None, ["a"])
    assert context.shape == (1, 512, 64) and pooled.shape == (1, 48)


def test_batch_rows_equal_single_calls(encoder, faces):
    context, pooled = encoder.encode(faces, PROMPTS, face_index=[0, 1, None])
    assert context.shape == (3, 512, 64) and pooled.shape == (3, 48)
    for row, (face, prompt) in enumerate(zip([0, 1, None], PROMPTS)):
        one_face = None if face is None else faces[face : face + 1]
        single, single_pooled = encoder.encode(one_face, [prompt])
        assert torch.allclose(context[row], single[0], atol=1e-5), row
        assert torch.allclose(pooled[row], single_pooled[0], atol=1e-5), row


def test_faces_change_the_context_and_not_the_pooled_vector(encoder, faces):
    context, pooled = encoder.encode(faces, [PROMPTS[0]] * 2, face_index=[0, 1])
    assert (context[0] - context[1]).abs().max() > 1e-3
    assert torch.equal(pooled[0], pooled[1])  # CLIP-L sees the text only


def test_no_face_is_the_black_crop(encoder):
    black = torch.zeros(1, 448, 448, 3)
    assert torch.allclose(encoder.encode(None, PROMPTS[:2])[0], encoder.encode(black, PROMPTS[:2])[0], atol=1e-6)


def test_face_layouts_agree(encoder, faces):
    nhwc, _ = encoder.encode(faces[:1], PROMPTS[0])
    nchw, _ = encoder.encode(faces[:1].permute(0, 3, 1, 2), PROMPTS[0])
    assert torch.equal(nhwc, nchw)


def test_face_index_errors(encoder, faces):
    with pytest.raises(UsageError, match="refers to face 2"):
        encoder.encode(faces, PROMPTS[:2], face_index=[0, 2])
    with pytest.raises(UsageError, match="2 faces and 3 prompts"):
        encoder.encode(faces, PROMPTS)
    with pytest.raises(UsageError, match="no prompt was given"):
        encoder.encode(None, [])


@pytest.mark.parametrize("storage", [torch.bfloat16, torch.float8_e4m3fn])
def test_storage_dtype_with_fp32_compute(weights, encoder, faces, storage):
    stored = load_facet5(weights, dtype=torch.float32, storage_dtype=storage)
    wi = stored.encoder_2.t5_encoder.block[0].ff_layer.act.wi_0.weight
    assert wi.dtype == storage
    assert stored.encoder_2.fuser.encoder.text_layers[0].self_attn.in_proj_weight.dtype == storage
    for kept in (stored.encoder_2.t5_encoder.final_layer_norm.weight, stored.encoder_2.positional_embedding,
                 stored.encoder_2.face_encoder.pos_embed, stored.encoder_2.fuser.encoder.fusion_layers[0].gamma_l):
        assert kept.dtype == torch.float32
    context, pooled = stored.encode(faces[:1], PROMPTS[0])
    expected, expected_pooled = encoder.encode(faces[:1], PROMPTS[0])
    assert context.dtype == torch.float32
    if storage == torch.bfloat16:  # the file is bf16: nothing is lost
        assert torch.equal(context, expected) and torch.equal(pooled, expected_pooled)
    else:  # fp8 rounds every matrix (3 mantissa bits): close in direction, not in value
        cosine = torch.nn.functional.cosine_similarity(context.flatten(), expected.flatten(), dim=0)
        assert cosine > 0.99 and (context - expected).abs().mean() < 0.1


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_16_bit_compute(weights, encoder, faces, dtype):
    model = load_facet5(weights, dtype=dtype)
    context, pooled = model.encode(faces[:1], PROMPTS[0])
    assert context.dtype == pooled.dtype == dtype
    expected, _ = encoder.encode(faces[:1], PROMPTS[0])
    assert (context.float() - expected).abs().max() < 0.25  # 16-bit compute through 2+2+2 layers


def _release_to_t5xxl(key: str) -> str:
    """The inverse of the loader's mapping, written out by hand from ComfyUI's T5 module names."""
    rest = key[len(T5_PREFIX):]
    if rest == "embed_tokens.weight":
        return "shared.weight"
    if rest == "final_layer_norm.weight":
        return "encoder.final_layer_norm.weight"
    n, part = re.fullmatch(r"block\.(\d+)\.(.*)", rest).groups()
    names = {
        "self_attention_layer.self_attention.Wq.weight": "layer.0.SelfAttention.q.weight",
        "self_attention_layer.self_attention.Wk.weight": "layer.0.SelfAttention.k.weight",
        "self_attention_layer.self_attention.Wv.weight": "layer.0.SelfAttention.v.weight",
        "self_attention_layer.self_attention.o.weight": "layer.0.SelfAttention.o.weight",
        "self_attention_layer.self_attention.pe_encoding.relative_attention_bias.weight":
            "layer.0.SelfAttention.relative_attention_bias.weight",
        "self_attention_layer.layer_norm.weight": "layer.0.layer_norm.weight",
        "ff_layer.act.wi_0.weight": "layer.1.DenseReluDense.wi_0.weight",
        "ff_layer.act.wi_1.weight": "layer.1.DenseReluDense.wi_1.weight",
        "ff_layer.wo.weight": "layer.1.DenseReluDense.wo.weight",
        "ff_layer.layer_norm.weight": "layer.1.layer_norm.weight",
    }
    return f"encoder.block.{n}.{names[part]}"


def _write_t5xxl(weights, path, dtype=torch.float16, **extra):
    state, _ = read_facet5_state(weights)
    t5 = {_release_to_t5xxl(k): v.to(dtype).contiguous() for k, v in state.items() if k.startswith(T5_PREFIX)}
    save_file({**t5, **extra}, str(path))
    return path


def test_t5_from_a_stock_t5xxl_file(weights, encoder, faces, tmp_path):
    state, _ = read_facet5_state(weights)
    t5_keys = [k for k in state if k.startswith(T5_PREFIX)]
    assert all(t5xxl_to_release(_release_to_t5xxl(k)) == k for k in t5_keys)
    t5xxl = _write_t5xxl(weights, tmp_path / "t5xxl_fp16.safetensors",
                         **{"encoder.embed_tokens.weight": torch.zeros(3, 3, dtype=torch.float16)})
    combined = load_facet5(weights, t5_path=t5xxl)
    # the same T5 (up to fp16 rounding of the bf16 values) gives the same model
    assert torch.allclose(combined.encode(faces[:1], PROMPTS[0])[0], encoder.encode(faces[:1], PROMPTS[0])[0], atol=1e-4)
    stock = {t5xxl_to_release(k): v for k, v in load_file(str(t5xxl)).items() if t5xxl_to_release(k)}
    assert set(stock) == set(t5_keys)
    assert max(t5_differences(state, stock).values()) < 1e-3
    changed = {**stock, t5_keys[0]: stock[t5_keys[0]] * 1.05}  # a fine-tuned T5 would show up
    assert t5_differences(state, changed)[t5_keys[0]] > 1e-2


def test_t5xxl_file_errors(weights, tmp_path):
    other = write_tiny_facet5(tmp_path / "wide.pt", d_model=128)
    with pytest.raises(CheckpointError, match="not a T5-XXL encoder matching this FaceT5 file.*wrong shape"):
        load_facet5(weights, t5_path=_write_t5xxl(other, tmp_path / "t5_wide.safetensors"))
    scaled = _write_t5xxl(weights, tmp_path / "t5_scaled.safetensors", scaled_fp8=torch.zeros(0, dtype=torch.float8_e4m3fn))
    with pytest.raises(CheckpointError, match="scaled-fp8"):
        load_facet5(weights, t5_path=scaled)


def test_wrong_and_broken_files(weights, tmp_path):
    sdxl_like = tmp_path / "clip.pt"
    torch.save({"text_model.encoder.layers.0.mlp.fc1.weight": torch.zeros(2, 2)}, sdxl_like)
    with pytest.raises(CheckpointError, match="not a FaceT5 encoder: it looks like a CLIP text encoder"):
        load_facet5(sdxl_like)
    state = torch.load(weights, weights_only=True)
    del state["encoder_2.fuser.encoder.text_layers.1.norm2.bias"]
    torch.save(state, tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="1 missing: encoder_2.fuser.encoder.text_layers.1.norm2.bias"):
        load_facet5(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="does not exist. Put the FaceT5 encoder there"):
        load_facet5(tmp_path / "missing.pt")
    evil = tmp_path / "evil.pt"
    torch.save({"x": torch.zeros(1), "code": Image.Image}, evil)
    with pytest.raises(CheckpointError, match="refused"):
        load_facet5(evil)


def test_encode_command_recognises_facet5(weights, encoder, tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "face.png")
    out = tmp_path / "out.safetensors"
    assert cli_main(["encode", "--weights", str(weights), "--face", str(tmp_path / "face.png"), "--prompt", PROMPTS[0],
                     "--prompt", PROMPTS[1], "--dtype", "fp32", "--device", "cpu", "--out", str(out)]) == 0
    written = load_file(str(out))
    assert written["context"].shape == (2, 512, 64) and written["pooled"].shape == (2, 48)
    assert written["context"].dtype == torch.float32
    expected, expected_pooled = encoder.encode(torch.from_numpy(pixels).float()[None] / 255, PROMPTS[:2])
    assert torch.allclose(written["context"], expected, atol=1e-6)
    assert torch.allclose(written["pooled"], expected_pooled, atol=1e-6)
    assert cli_main(["encode", "--weights", str(weights), "--no-face", "--prompt", PROMPTS[2], "--device", "cpu",
                     "--out", str(out)]) == 0
    assert torch.allclose(load_file(str(out))["context"], encoder.encode(None, PROMPTS[2])[0], atol=1e-6)


def test_convert_keeps_the_release_keys(weights, encoder, tmp_path):
    out = tmp_path / "face_t5_encoder.safetensors"
    assert cli_main(["convert", str(weights), str(out), "--dtype", "fp16"]) == 0
    assert set(load_file(str(out))) == set(torch.load(weights, weights_only=True))
    converted = load_facet5(out)
    assert converted.encoder_2.face_patch_proj.weight.dtype == torch.float32
    assert (converted.encode(None, PROMPTS[0])[0] - encoder.encode(None, PROMPTS[0])[0]).abs().max() < 0.05


def _file_mappings(path) -> list[tuple[int, int]]:
    with open("/proc/self/maps") as maps:
        return [tuple(int(x, 16) for x in line.split()[0].split("-")) for line in maps if line.rstrip().endswith(str(path))]


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/maps"), reason="needs Linux's /proc/self/maps")
def test_no_second_copy_when_the_file_dtype_is_kept(tmp_path):
    path = write_tiny_facet5(tmp_path / "mapped.pt")  # bf16, as released
    model = load_facet5(path, dtype=torch.bfloat16)
    ranges = _file_mappings(path)
    floats = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    on_file = [k for k, v in floats.items() if any(a <= v.data_ptr() < b for a, b in ranges)]
    assert ranges and len(on_file) == len(floats)  # every weight is read from the mapping, none copied
    assert model.encode(None, "a")[0].dtype == torch.bfloat16


def test_compare_t5_command(weights, tmp_path, capsys):
    same = _write_t5xxl(weights, tmp_path / "t5xxl_fp16.safetensors")
    assert cli_main(["compare-t5", str(weights), str(same)]) == 0
    assert "agree within rounding" in capsys.readouterr().out
    state = load_file(str(same))
    state["encoder.block.1.layer.1.DenseReluDense.wo.weight"] *= 1.02  # a fine-tuned tensor
    save_file(state, str(tmp_path / "changed.safetensors"))
    assert cli_main(["compare-t5", str(weights), str(tmp_path / "changed.safetensors")]) == 1
    assert "block.1.ff_layer.wo.weight" in capsys.readouterr().out


def test_an_over_long_prompt_logs_one_warning_with_the_t5_count(encoder, caplog):
    from faceclip_core.encoders.t5.tokenizers import t5_tokenizer

    tokenizer = t5_tokenizer()
    long = " ".join(["word"] * 600)
    assert tokenizer.dropped_tokens("a photo of a person") == 0
    assert tokenizer.dropped_tokens(long) == len(tokenizer._counter.encode(long).ids) - 512 > 0
    with caplog.at_level("WARNING"):
        encoder.encode(None, ["a short prompt", long])
    [record] = [r for r in caplog.records if "T5 tokens" in r.getMessage()]
    assert f"prompt 2 lost its last {tokenizer.dropped_tokens(long)} tokens" in record.getMessage()
    assert "prompt 1" not in record.getMessage()
