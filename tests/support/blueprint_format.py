"""The pack's subgraph blueprints (`subgraphs/NAME.json`), built from its templates: one reusable node per main task.

A blueprint is what the frontend (1.3x and later) saves when a subgraph is published: a workflow whose root graph
holds one node, an instance of the one subgraph in `definitions.subgraphs` (the frontend's schema version 1 inside:
links as objects, the subgraph's own input node -10 and output node -20). Newer ComfyUI hosts list a pack's
`subgraphs/*.json` at /global_subgraphs and the frontend shows each in the node library under its file name;
0.3.64 has no such route (there a user copies the file into user/default/subgraphs/ to get the same).

Each blueprint is its template with the reference photo (Load Image) as the subgraph's `reference` input, the
prompt of the face-conditioned encode as its `prompt` widget, and the decoded image (what Save Image got) as its
`image` output; Save Image and the face preview stay outside, where the user puts them.

    python tests/blueprint_format.py      # (re)writes subgraphs/
"""
from __future__ import annotations

import json
import sys
import uuid
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(Path(__file__).parent)]

from workflow_format import WORKFLOWS  # noqa: E402

FOLDER = ROOT / "subgraphs"
CATEGORY = "FaceCLIP"  # the node library shows it under Subgraph Blueprints/FaceCLIP
INPUT_NODE, OUTPUT_NODE = -10, -20  # the frontend's ids of a subgraph's own input and output nodes
ENCODERS = ("FaceCLIPTextEncodeSDXL", "FaceT5TextEncodeFlux")
_IDS = uuid.UUID("1f0c5a52-7d2e-4c1e-9a53-3b8f6c0d2e71")  # namespace: the same file every time it is written


@dataclass(frozen=True)
class Blueprint:
    template: str
    description: str
    search_aliases: tuple[str, ...]


BLUEPRINTS: dict[str, Blueprint] = {
    "FaceCLIP SDXL portrait": Blueprint(
        "faceclip_portrait",
        "A reference photo and a prompt -> an SDXL portrait of that person (FaceCLIP encoder + its SDXL UNet).",
        ("face", "identity", "portrait", "faceclip", "instantid", "pulid", "ip-adapter face", "faceid", "sdxl face")),
    "FaceT5 FLUX portrait": Blueprint(
        "faceclip_flux_portrait",
        "A reference photo and a prompt -> a FLUX.1-dev portrait of that person (FaceT5 encoder + its FLUX model).",
        ("face", "identity", "portrait", "facet5", "flux face", "pulid flux", "instantid", "ip-adapter face", "faceid")),
}


def _guid(*parts: Any) -> str:
    return str(uuid.uuid5(_IDS, "/".join(map(str, parts))))


def build(name: str) -> dict[str, Any]:
    spec = BLUEPRINTS[name]
    ui = WORKFLOWS[spec.template]().ui()
    nodes = {node["id"]: deepcopy(node) for node in ui["nodes"]}
    (photo,) = [n for n in nodes.values() if n["type"] == "LoadImage"]
    (save,) = [n for n in nodes.values() if n["type"] == "SaveImage"]
    (encoder,) = [n for n in nodes.values() if n["type"] in ENCODERS and any(i["link"] for i in n["inputs"]
                                                                               if i["name"] == "face")]
    outside = {photo["id"], save["id"]} | {n["id"] for n in nodes.values() if n["type"] == "PreviewImage"}
    links = []
    reference_links, image_links = [], []
    for link_id, origin, origin_slot, target, target_slot, kind in ui["links"]:
        if target in outside and target != save["id"]:
            nodes[origin]["outputs"][origin_slot]["links"].remove(link_id)  # the preview: the user's to add
            continue
        if origin == photo["id"]:
            origin, origin_slot = INPUT_NODE, 0
            reference_links.append(link_id)
        if target == save["id"]:
            target, target_slot = OUTPUT_NODE, 0
            image_links.append(link_id)
        links.append({"id": link_id, "origin_id": origin, "origin_slot": origin_slot, "target_id": target,
                      "target_slot": target_slot, "type": kind})
    # the encoder's prompt, a widget, fed from the subgraph's `prompt` input (shown as a widget on the blueprint)
    prompt_link = ui["last_link_id"] + 1
    encoder["inputs"].append({"name": "text", "type": "STRING", "widget": {"name": "text"}, "link": prompt_link})
    links.append({"id": prompt_link, "origin_id": INPUT_NODE, "origin_slot": 1, "target_id": encoder["id"],
                  "target_slot": len(encoder["inputs"]) - 1, "type": "STRING"})
    inner = [n for node_id, n in nodes.items() if node_id not in outside]
    left = min(n["pos"][0] for n in inner)
    right = max(n["pos"][0] + n["size"][0] for n in inner)
    subgraph_id = _guid(name, "subgraph")
    definition = {
        "id": subgraph_id, "version": 1,
        "state": {"lastGroupId": 0, "lastNodeId": max(nodes), "lastLinkId": prompt_link, "lastRerouteId": 0},
        "revision": 0, "config": {}, "name": name, "category": CATEGORY, "description": spec.description,
        "inputNode": {"id": INPUT_NODE, "bounding": [left - 220, 70, 140, 80]},
        "outputNode": {"id": OUTPUT_NODE, "bounding": [right + 80, 70, 140, 60]},
        "inputs": [_io(name, "reference", "IMAGE", reference_links), _io(name, "prompt", "STRING", [prompt_link])],
        "outputs": [_io(name, "image", "IMAGE", image_links)],
        "widgets": [], "nodes": inner, "groups": [], "links": links, "extra": {},
    }
    instance = {
        "id": max(nodes) + 1, "type": subgraph_id, "pos": [0, 0], "size": [400, 160], "flags": {}, "order": 0,
        "mode": 0,
        "inputs": [{"name": "reference", "type": "IMAGE", "link": None},
                   {"name": "prompt", "type": "STRING", "widget": {"name": "prompt"}, "link": None}],
        "outputs": [{"name": "image", "type": "IMAGE", "links": []}],
        "properties": {}, "widgets_values": [encoder["widgets_values"][0]],
    }
    return {
        "id": _guid(name, "workflow"), "revision": 0, "last_node_id": instance["id"], "last_link_id": 0,
        "nodes": [instance], "links": [], "groups": [], "config": {},
        "extra": {"BlueprintDescription": spec.description, "BlueprintSearchAliases": list(spec.search_aliases)},
        "version": 0.4, "definitions": {"subgraphs": [definition]},
    }


def _io(blueprint: str, name: str, kind: str, link_ids: list[int]) -> dict[str, Any]:
    return {"id": _guid(blueprint, name), "name": name, "type": kind, "linkIds": link_ids, "localized_name": name}


def text(name: str) -> str:
    return json.dumps(build(name), indent=2) + "\n"


def write_blueprints(folder: Path = FOLDER) -> None:
    folder.mkdir(exist_ok=True)
    for name in BLUEPRINTS:
        (folder / f"{name}.json").write_text(text(name))


if __name__ == "__main__":
    write_blueprints()
