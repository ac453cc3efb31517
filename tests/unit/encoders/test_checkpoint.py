"""Loading, saving and converting FaceCLIP encoder files, and the error for every bad file."""
from __future__ import annotations

import collections
import re

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from faceclip_core.encoders.sdxl.checkpoint import CONFIG_METADATA_KEY, read_encoder_state
from faceclip_core.cli import main as cli_main
from faceclip_core.encoders.sdxl.config import FaceCLIPConfig, tiny_config
from faceclip_core.errors import CheckpointError
from faceclip_core.encoders.sdxl.loader import load_encoder
from tiny_faceclip import make_tiny_encoder, random_faces, write_official_pt, write_safetensors

PROMPTS = ["a person on a beach", "a very long prompt " * 30]


@pytest.fixture(scope="module")
def encoder():
    return make_tiny_encoder()


@pytest.fixture(scope="module")
def official_pt(encoder, tmp_path_factory):
    # fp32 values so the round trip is exact; the 16-bit release is covered by the parity test
    return write_official_pt(encoder, tmp_path_factory.mktemp("pt") / "face_clip_encoder.pt", dtype=torch.float32)


def outputs(model):
    return model.encode(random_faces(1), PROMPTS)


def test_official_pt_round_trip_is_exact(encoder, official_pt):
    loaded = load_encoder(official_pt)  # the architecture comes from the file's faceclip_config entry
    assert not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    for ours, theirs in zip(outputs(encoder), outputs(loaded)):
        torch.testing.assert_close(ours, theirs, atol=0, rtol=0)


def test_safetensors_carries_its_config_and_round_trips(encoder, tmp_path):
    path = write_safetensors(encoder, tmp_path / "tiny.safetensors")
    with safe_open(str(path), framework="pt") as f:
        assert FaceCLIPConfig.from_json(f.metadata()[CONFIG_METADATA_KEY]) == tiny_config()
    loaded = load_encoder(path)  # no config given: it comes from the file
    for ours, theirs in zip(outputs(encoder), outputs(loaded)):
        torch.testing.assert_close(ours, theirs, atol=0, rtol=0)


def test_16_bit_release_loads_in_each_dtype(encoder, tmp_path):
    path = write_official_pt(encoder, tmp_path / "bf16.pt", dtype=torch.bfloat16)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        model = load_encoder(path, dtype=dtype, config=tiny_config())
        assert {p.dtype for p in model.parameters()} == {dtype}
        assert model.face_clip_l.face_encoder.feature[1].num_batches_tracked.dtype == torch.int64


def test_convert_cli_writes_loadable_safetensors(encoder, official_pt, tmp_path, capsys):
    out = tmp_path / "tiny_fp16.safetensors"
    assert cli_main(["convert", str(official_pt), str(out), "--dtype", "fp16"]) == 0
    tensors = load_file(str(out))
    assert {v.dtype for v in tensors.values() if v.is_floating_point()} == {torch.float16}
    assert "wrote" in capsys.readouterr().out
    converted = load_encoder(out)
    for ours, theirs in zip(outputs(encoder), outputs(converted)):
        torch.testing.assert_close(ours, theirs.float(), atol=2e-2, rtol=0)
    assert not list(tmp_path.glob("*.partial"))


def test_a_pt_of_another_architecture_without_its_config_is_explained(encoder, tmp_path, capsys):
    torch.save(_state(encoder), tmp_path / "bare.pt")  # no faceclip_config entry: taken as the official size
    assert cli_main(["convert", str(tmp_path / "bare.pt"), str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "looks like a FaceCLIP encoder" in err and "wrong shape" in err and "carry their architecture" in err


def _state(encoder):
    return {f"model.{k}": v.clone() for k, v in encoder.state_dict().items()}


def _expect(path, *fragments, config=tiny_config()):
    with pytest.raises(CheckpointError) as info:
        read_encoder_state(path, config)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert re.search(fragment, message), (fragment, message)
    return message


def test_missing_and_unexpected_keys_are_listed(encoder, tmp_path):
    state = _state(encoder)
    del state["model.face_clip_l.proj1.weight"]
    state["model.face_clip_l.extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "keys.pt")
    _expect(tmp_path / "keys.pt", "looks like a FaceCLIP encoder", "1 missing: face_clip_l.proj1.weight",
            "1 unexpected: face_clip_l.extra.weight")


def test_wrong_shape_is_listed(encoder, tmp_path):
    state = _state(encoder)
    state["model.face_clip_g.proj1.bias"] = torch.zeros(7)
    torch.save(state, tmp_path / "shape.pt")
    _expect(tmp_path / "shape.pt", r"1 wrong shape: face_clip_g.proj1.bias \(7,\) \(expected \(48,\)\)")


def test_many_problems_show_the_first_few(tmp_path):
    torch.save({f"model.face_clip_l.junk{i}": torch.zeros(1) for i in range(20)}, tmp_path / "junk.pt")
    message = _expect(tmp_path / "junk.pt", r"20 unexpected: .* and 15 more", r"\d+ missing")
    assert message.count("junk") == 5 + 1  # five keys shown, plus the file name


def test_truncated_pt(official_pt, tmp_path):
    data = official_pt.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    _expect(tmp_path / "cut.pt", "truncated or corrupt", r"[\d,]+ bytes", "Download it again")


def test_truncated_safetensors(encoder, tmp_path):
    data = write_safetensors(encoder, tmp_path / "full.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) - 1000])
    _expect(tmp_path / "cut.safetensors", "truncated or corrupt", "Download it again")


Exploit = collections.namedtuple("Exploit", "payload")  # any non-tensor class makes a pickle that needs code


def test_pickle_that_needs_code_is_refused(tmp_path):
    torch.save({"weights": torch.zeros(1), "obj": Exploit("x")}, tmp_path / "code.pt")
    _expect(tmp_path / "code.pt", "pickled Python objects other than tensors", "would run code", "refused")


def test_sdxl_unet_in_the_wrong_folder(tmp_path):
    unet = {
        "down_blocks.0.resnets.0.conv1.weight": torch.zeros(4, 4, 3, 3),
        "mid_block.attentions.0.proj_in.weight": torch.zeros(4, 4),
        "up_blocks.0.resnets.0.conv1.weight": torch.zeros(4, 4, 3, 3),
    }
    torch.save(unet, tmp_path / "unet.pt")
    _expect(tmp_path / "unet.pt", "looks like a UNet in diffusers layout", "models/unet", "3 unexpected: down_blocks",
            "missing: face_clip_l.positional_embedding")
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1),
               "model.diffusion_model.middle_block.0.weight": torch.zeros(1)}, str(tmp_path / "sd.safetensors"))
    _expect(tmp_path / "sd.safetensors", "looks like a Stable Diffusion UNet")


def test_lfs_pointer_missing_file_and_garbage(tmp_path):
    (tmp_path / "lfs.pt").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3147286041\n")
    _expect(tmp_path / "lfs.pt", "Git LFS pointer", "huggingface.co/ByteDance/FaceCLIP")
    _expect(tmp_path / "nope.pt", "does not exist")
    (tmp_path / "junk.bin").write_bytes(b"hello world, not a model at all")
    _expect(tmp_path / "junk.bin", "neither a PyTorch checkpoint nor a safetensors file")


def test_not_a_state_dict(tmp_path):
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    _expect(tmp_path / "list.pt", "holds a list, not a dictionary of tensors")


def test_wrapped_state_dict_is_unwrapped(encoder, tmp_path):
    torch.save({"state_dict": _state(encoder)}, tmp_path / "wrapped.pt")
    state, _ = read_encoder_state(tmp_path / "wrapped.pt", tiny_config())
    assert "face_clip_l.proj1.weight" in state
