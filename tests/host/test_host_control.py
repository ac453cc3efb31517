"""Identity control in a real ComfyUI (headless, CPU, tiny models): the two-people templates for FaceCLIP-SDXL and
FaceT5-FLUX and the identity strength/timing template run, and the conditioning that reaches KSampler is what
they claim. A test-only probe node (tests/host/probe_nodes) sits on KSampler's positive input and writes that
conditioning to a file.

Skips unless COMFYUI_PATH points to a ComfyUI checkout (see tests/host/setup_test_host.sh).
"""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from safetensors import safe_open

import assets

from host.fixtures import comfy_path, comfy_server, copy_workflow_inputs  # noqa: F401  (fixtures)
from host.graphs import api_workflow, quick
from host.server import ComfyServer
from workflow_format import BACKGROUND_WEIGHT, IDENTITY_END, IDENTITY_START

SIZE = 64  # quick(): the image, and so the region masks, at 64x64


@pytest.fixture(scope="module")
def server(comfy_server: ComfyServer) -> ComfyServer:
    copy_workflow_inputs(comfy_server)
    Image.fromarray(assets.coffee()).save(comfy_server.input_dir / "no_face.png")
    return comfy_server


def node_id(graph: dict, class_type: str, **has: object) -> str:
    [found] = [i for i, n in graph.items() if n["class_type"] == class_type
               and all(n["inputs"].get(k) == v for k, v in has.items())]
    return found


def probe(graph: dict, source: list, label: str) -> list:
    """A probe on `source` (a link); returns the link to its pass-through output."""
    graph[f"probe_{label}"] = {"class_type": "FaceCLIPTestConditioningProbe", "inputs": {"conditioning": source, "label": label}}
    return [f"probe_{label}", 0]


def probe_sampler_positive(graph: dict, label: str) -> None:
    sampler = graph[node_id(graph, "KSampler")]["inputs"]
    sampler["positive"] = probe(graph, sampler["positive"], label)


def read_probe(server: ComfyServer, label: str) -> list[dict]:
    """Each conditioning entry as the probe saw it: its tensors and plain keys in one dict."""
    with safe_open(str(server.output_dir / "probe" / f"{label}.safetensors"), "pt") as file:
        keys = json.loads(file.metadata()["keys"])
        entries = [dict(plain) for plain in keys]
        for name in file.keys():
            index, key = name.split(".", 1)
            entries[int(index)][key] = file.get_tensor(name)
    return entries


def run(server: ComfyServer, graph: dict) -> None:
    result = server.run(graph, timeout_s=600)
    assert result.status == "success", (result.error, server.log_text()[-3000:])
    prefix = next(n["inputs"]["filename_prefix"] for n in graph.values() if n["class_type"] == "SaveImage")
    assert len(server.output_images(result, prefix)) == 1


def assert_two_regions_and_a_background(entries: list[dict], faces: list[dict], scene: dict) -> None:
    """Entries 0 and 1: the two face conditionings as encoded, on complementary masks (model run on the mask's
    bounds); entry 2: the scene prompt without a face, unmasked, at the background weight."""
    assert len(entries) == 3
    for entry, face in zip(entries[:2], faces):
        torch.testing.assert_close(entry["context"], face["context"], rtol=0, atol=0)
        torch.testing.assert_close(entry["pooled_output"], face["pooled_output"], rtol=0, atol=0)
        assert entry["mask"].shape == (1, SIZE, SIZE) and set(entry["mask"].unique().tolist()) == {0.0, 1.0}
        assert entry["mask_strength"] == 1.0 and entry["set_area_to_bounds"] is True
        assert "strength" not in entry
    torch.testing.assert_close(entries[0]["mask"] + entries[1]["mask"], torch.ones(1, SIZE, SIZE))
    assert not torch.equal(faces[0]["context"], faces[1]["context"])  # two identities, two prompts
    background = entries[2]
    assert "mask" not in background and background["strength"] == BACKGROUND_WEIGHT
    torch.testing.assert_close(background["context"], scene["context"], rtol=0, atol=0)


def test_two_people_sdxl_reaches_the_sampler_as_two_masked_faces_and_a_background(server: ComfyServer) -> None:
    graph = quick(api_workflow("faceclip_two_people"))
    masked = [i for i, n in graph.items() if n["class_type"] == "ConditioningSetMask"]
    face_links = [graph[i]["inputs"]["conditioning"] for i in masked]
    scene_link = graph[node_id(graph, "ConditioningSetAreaStrength")]["inputs"]["conditioning"]
    for i, link in enumerate(face_links):
        graph[masked[i]]["inputs"]["conditioning"] = probe(graph, link, f"sdxl_face_{i}")
    graph[node_id(graph, "ConditioningSetAreaStrength")]["inputs"]["conditioning"] = probe(graph, scene_link, "sdxl_scene")
    # the same prompt as region A without a face: what a face conditioning must differ from
    no_face = dict(graph[face_links[0][0]], inputs={k: v for k, v in graph[face_links[0][0]]["inputs"].items() if k != "face"})
    graph["no_face_a"] = no_face
    probe(graph, ["no_face_a", 0], "sdxl_no_face_a")
    probe_sampler_positive(graph, "sdxl_two_people")

    run(server, graph)

    entries = read_probe(server, "sdxl_two_people")
    faces = [read_probe(server, f"sdxl_face_{i}")[0] for i in range(2)]
    assert_two_regions_and_a_background(entries, faces, read_probe(server, "sdxl_scene")[0])
    assert not torch.equal(faces[0]["context"], read_probe(server, "sdxl_no_face_a")[0]["context"])
    # split where the group photo is split between the faces (face 0 is the left one): not at the middle
    row = entries[0]["mask"][0, 0]
    split = int(row.sum())
    assert row[:split].min() == 1 and row[split:].max() == 0 and split != SIZE // 2


def test_two_people_flux_reaches_the_sampler_as_two_masked_faces_and_a_background(server: ComfyServer) -> None:
    graph = quick(api_workflow("faceclip_flux_two_people"))
    masked = [i for i, n in graph.items() if n["class_type"] == "ConditioningSetMask"]
    for i, mask_node in enumerate(masked):
        inputs = graph[mask_node]["inputs"]
        inputs["conditioning"] = probe(graph, inputs["conditioning"], f"flux_face_{i}")
    background = graph[node_id(graph, "ConditioningSetAreaStrength")]["inputs"]
    background["conditioning"] = probe(graph, background["conditioning"], "flux_scene")
    probe_sampler_positive(graph, "flux_two_people")

    run(server, graph)

    entries = read_probe(server, "flux_two_people")
    faces = [read_probe(server, f"flux_face_{i}")[0] for i in range(2)]
    assert_two_regions_and_a_background(entries, faces, read_probe(server, "flux_scene")[0])
    assert all(entry["guidance"] == 1.0 for entry in entries)  # FluxGuidance after the combine reaches every region
    assert entries[0]["mask"][0, :, : SIZE // 2].min() == 1 and entries[0]["mask"][0, :, SIZE // 2:].max() == 0


def test_identity_strength_template_runs_with_the_formula_and_the_timing(server: ComfyServer) -> None:
    strength = 0.5
    graph = quick(api_workflow("faceclip_identity_strength"))
    blend = graph[node_id(graph, "FaceCLIPIdentityStrength")]["inputs"]
    blend["strength"] = strength
    blend["face_conditioning"] = probe(graph, blend["face_conditioning"], "face")
    blend["no_face_conditioning"] = probe(graph, blend["no_face_conditioning"], "no_face")
    probe_sampler_positive(graph, "strength")

    run(server, graph)

    [face], [no_face] = read_probe(server, "face"), read_probe(server, "no_face")
    during, before, after = read_probe(server, "strength")
    for key in ("context", "pooled_output"):
        torch.testing.assert_close(during[key], strength * face[key] + (1 - strength) * no_face[key])
        torch.testing.assert_close(before[key], no_face[key], rtol=0, atol=0)
        torch.testing.assert_close(after[key], no_face[key], rtol=0, atol=0)
    assert (during["start_percent"], during["end_percent"]) == pytest.approx((IDENTITY_START, IDENTITY_END))
    assert (before["start_percent"], before["end_percent"]) == pytest.approx((0.0, IDENTITY_START))
    assert (after["start_percent"], after["end_percent"]) == pytest.approx((IDENTITY_END, 1.0))
    assert during["width"] == SIZE  # the face entry's SDXL size keys are kept


def test_a_photo_without_a_face_takes_the_no_face_path_when_asked(server: ComfyServer) -> None:
    graph = quick(api_workflow("faceclip_portrait"))
    graph[node_id(graph, "LoadImage")]["inputs"]["image"] = "no_face.png"
    detect = node_id(graph, "FaceCLIPDetectFace")
    graph[detect]["inputs"]["on_no_face"] = "text only"
    graph["report"] = {"class_type": "PreviewAny", "inputs": {"source": [detect, 3]}}
    encode = next(i for i, n in graph.items() if n["class_type"] == "FaceCLIPTextEncodeSDXL" and "face" in n["inputs"])

    refused = server.run(graph, timeout_s=600)  # the Text Encode node still says 'error'
    assert refused.status == "execution_error" and refused.node_type == "FaceCLIPTextEncodeSDXL"
    assert "the face input has no face in row 0" in refused.error

    graph[encode]["inputs"]["on_no_face"] = "text only"
    result = server.run(graph, timeout_s=600)
    assert result.status == "success", (result.error, server.log_text()[-3000:])
    assert result.outputs["report"]["text"][0] == "image 0: no face found, row 0 takes the no-face path (text only)"
