"""FaceT5 nodes without a host: the FLUX conditioning they build, the dtype choice, the declarations.

The host's model management is replaced by a stand-in that records what the node asks of it (the real host path:
tests/host/test_host_facet5.py). The encoder is a real tiny FaceT5 (tests/support/tiny_facet5.py); its widths are not FLUX's,
so the tests that compare rows lower the widths the node checks to the tiny ones.
"""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from faceclip_core.encoders.t5.loader import load_facet5
from faceclip_core.errors import UsageError
from faceclip_core.face import Face
from nodes import facet5_logic
from nodes.facet5_logic import FaceT5Model, encode_flux, storage_dtype
from tiny_facet5 import tiny_facet5_config, write_tiny_facet5

PROMPTS = "a photo of her on a beach\nher as an astronaut"


@pytest.fixture
def host(monkeypatch):
    """Stand-ins for comfy.model_patcher / comfy.model_management: a patcher that holds the model, a
    load_models_gpu that records its calls, CPU as every device, and the host's dtype choices as attributes."""
    loads = []
    patcher = types.SimpleNamespace(ModelPatcher=lambda model, load_device, offload_device: types.SimpleNamespace(
        model=model, load_device=load_device, offload_device=offload_device))
    mm = types.SimpleNamespace(
        load_models_gpu=loads.append, intermediate_device=lambda: torch.device("cpu"),
        text_encoder_dtype=lambda device: mm.host_text_encoder_dtype, should_use_bf16=lambda device: mm.bf16,
        host_text_encoder_dtype=torch.float16, bf16=False, loads=loads)
    comfy = types.ModuleType("comfy")
    comfy.model_patcher, comfy.model_management = patcher, mm
    for name, module in (("comfy", comfy), ("comfy.model_patcher", patcher), ("comfy.model_management", mm)):
        monkeypatch.setitem(sys.modules, name, module)
    return mm


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    path = write_tiny_facet5(tmp_path_factory.mktemp("facet5") / "face_t5_encoder.pt", seed=3)
    return load_facet5(path)


@pytest.fixture
def tiny_widths(monkeypatch):
    """Let the node accept the tiny encoder's widths (the official ones are FLUX's 4096 and 768)."""
    config = tiny_facet5_config()
    monkeypatch.setattr(facet5_logic, "CONTEXT_WIDTH", config.t5.d_model)
    monkeypatch.setattr(facet5_logic, "POOLED_WIDTH", config.clip.width)


def faces(*seeds: int) -> list[Face]:
    return [Face(bbox=np.zeros(4, np.float32), kps=np.zeros((5, 2), np.float32), score=1.0, embedding=None,
                 crop=np.random.default_rng(seed).integers(0, 256, (448, 448, 3), dtype=np.uint8)) for seed in seeds]


def crops(face_list: list[Face]) -> torch.Tensor:
    return torch.from_numpy(np.stack([f.crop for f in face_list])).float() / 255.0


def model(encoder, host) -> FaceT5Model:
    return FaceT5Model(encoder, torch.device("cpu"), torch.device("cpu"), torch.float32, "face_t5_encoder.pt")


def test_conditioning_is_the_hosts_flux_form_one_row_per_prompt(encoder, host, tiny_widths):
    reference = faces(0)
    [[context, extras]], _ = encode_flux(model(encoder, host), PROMPTS, "first", True, reference)

    expected_context, expected_pooled = encoder.encode(crops(reference), PROMPTS.splitlines())
    assert set(extras) == {"pooled_output"}  # guidance comes from FluxGuidance, as for the host's own encoders
    assert context.dtype == extras["pooled_output"].dtype == torch.float32
    assert context.shape == (2, 512, 64) and extras["pooled_output"].shape == (2, 48)
    torch.testing.assert_close(context, expected_context, rtol=0, atol=0)
    torch.testing.assert_close(extras["pooled_output"], expected_pooled, rtol=0, atol=0)
    assert len(host.loads) == 1  # the host was asked to load the encoder before it ran


def test_no_face_is_the_official_negative(encoder, host, tiny_widths):
    [[context, extras]], _ = encode_flux(model(encoder, host), "worst quality, blurry", "first", False)

    expected_context, expected_pooled = encoder.encode(None, ["worst quality, blurry"])
    torch.testing.assert_close(context, expected_context, rtol=0, atol=0)
    torch.testing.assert_close(extras["pooled_output"], expected_pooled, rtol=0, atol=0)
    with_face, _ = encoder.encode(crops(faces(0)), ["worst quality, blurry"])
    assert not torch.equal(context, with_face)


def test_several_faces_first_or_averaged(encoder, host, tiny_widths):
    two = faces(0, 1)
    [[first, _]], _ = encode_flux(model(encoder, host), "a portrait", "first", False, two)
    [[average, _]], _ = encode_flux(model(encoder, host), "a portrait", "average", False, two)

    torch.testing.assert_close(first, encoder.encode(crops(two[:1]), ["a portrait"])[0], rtol=0, atol=0)
    tokens = encoder.encode_faces(crops(two)).mean(0, keepdim=True)
    with torch.inference_mode():
        expected, _ = encoder(tokens, ["a portrait"], [0])
    torch.testing.assert_close(average, expected, rtol=0, atol=0)
    assert not torch.equal(first, average)


def test_a_test_size_encoder_is_refused_with_flux_widths(encoder, host):
    with pytest.raises(UsageError, match=r"FLUX needs \(1, 512, 4096\) and \(1, 768\): load the official FaceT5 encoder"):
        encode_flux(model(encoder, host), "a portrait", "first", False)


def test_inputs_from_other_nodes_are_refused(encoder, host):
    with pytest.raises(UsageError, match="must come from FaceT5 Loader"):
        encode_flux(object(), "a portrait", "first", False)
    with pytest.raises(UsageError, match="FaceT5 Text Encode \\(FLUX\\): the face input must be a FACE from FaceCLIP Detect Face"):
        encode_flux(model(encoder, host), "a portrait", "first", False, torch.zeros(1, 448, 448, 3))
    with pytest.raises(UsageError, match="no non-empty line"):
        encode_flux(model(encoder, host), "\n \n", "first", True)


def test_auto_storage_follows_the_hosts_text_encoder_choice(host):
    cuda = torch.device("cuda")
    assert storage_dtype("auto", cuda) == torch.float16  # no bf16 here: the host's choice
    host.bf16 = True
    assert storage_dtype("auto", cuda) == torch.bfloat16  # the official precision where the GPU has it
    host.host_text_encoder_dtype = torch.float8_e4m3fn  # started with --fp8_e4m3fn-text-enc
    assert storage_dtype("auto", cuda) == torch.float8_e4m3fn
    assert storage_dtype("fp32", cuda) == torch.float32 and storage_dtype("fp8_e5m2", cuda) == torch.float8_e5m2


def test_the_next_queue_run_with_the_same_face_reuses_its_features(encoder, host, tiny_widths):
    reference = faces(7)
    real_crops = []
    hook = encoder.encoder_2.face_encoder.register_forward_hook(
        lambda _m, inputs, _o: real_crops.append(int(inputs[0].abs().sum() > 0)))
    try:
        encode_flux(model(encoder, host), "a portrait", "first", False, reference)
        [[context, _]], _ = encode_flux(model(encoder, host), "her as an astronaut", "first", False, faces(7))
    finally:
        hook.remove()
    assert sum(real_crops) == 1
    expected = encoder(encoder.encode_faces(crops(reference)), ["her as an astronaut"], [0])[0]
    torch.testing.assert_close(context, expected, rtol=0, atol=0)
