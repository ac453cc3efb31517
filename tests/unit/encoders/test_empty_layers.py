"""Both encoders with host layers created empty, as ComfyUI with dynamic VRAM (0.38.x) makes comfy.ops Linear
(weight and bias None) and Embedding (a meta weight) and fills them only in load_state_dict (tests/newer_host.py)."""
from __future__ import annotations

import torch
from torch import nn

from faceclip_core.encoders.sdxl.config import tiny_config
from faceclip_core.encoders.sdxl.loader import load_encoder
from faceclip_core.encoders.sdxl.model import FaceCLIPEncoder
from faceclip_core.encoders.t5.loader import load_facet5
from newer_host import EmptyLayerOps, EmptyLinear
from tiny_faceclip import make_tiny_encoder, random_faces, write_official_pt
from tiny_facet5 import write_tiny_facet5

PROMPTS = ["a photo of a person on a beach", "a person as an astronaut"]


def linears(model: nn.Module) -> list[EmptyLinear]:
    return [m for m in model.modules() if isinstance(m, EmptyLinear)]


def assert_filled(model: nn.Module) -> None:
    layers = linears(model)
    assert layers and all(m.weight is not None and not m.weight.is_meta for m in layers)
    assert not any(t.is_meta for t in (*model.parameters(), *model.buffers()))


def test_the_stand_in_creates_its_layers_empty_and_building_either_encoder_leaves_them_so():
    model = FaceCLIPEncoder(tiny_config(), EmptyLayerOps)  # off the meta device: the random-init path runs too
    assert linears(model) and all(m.weight is None and m.bias is None for m in linears(model))


def test_faceclip_sdxl_loads_into_empty_layers_and_encodes_as_with_torch_layers(tmp_path):
    path = write_official_pt(make_tiny_encoder(), tmp_path / "face_clip_encoder.pt")
    reference, empty = load_encoder(path), load_encoder(path, ops=EmptyLayerOps)
    assert_filled(empty)
    faces = random_faces(1)
    for got, want in zip(empty.encode(faces, PROMPTS), reference.encode(faces, PROMPTS)):
        assert torch.equal(got, want)
    for got, want in zip(empty.encode(None, PROMPTS[:1]), reference.encode(None, PROMPTS[:1])):
        assert torch.equal(got, want)


def test_facet5_loads_into_empty_layers_and_encodes_as_with_torch_layers(tmp_path):
    path = write_tiny_facet5(tmp_path / "face_t5_encoder.pt")
    reference, empty = load_facet5(path), load_facet5(path, ops=EmptyLayerOps)
    assert_filled(empty)
    faces = random_faces(2, 112)
    for got, want in zip(empty.encode(faces, PROMPTS, face_index=[0, None]), reference.encode(faces, PROMPTS, face_index=[0, None])):
        assert torch.equal(got, want)
