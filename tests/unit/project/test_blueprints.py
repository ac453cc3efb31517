"""The subgraph blueprints in subgraphs/: valid as the frontend reads them (one subgraph node at the root, GUID
ids, links that agree with both their ends and with the subgraph's inputs and outputs), made only of nodes that
exist with the widgets they declare, and the same pipeline as the template each comes from. The real frontend
loading them: tests/test_host_browser.py."""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from blueprint_format import BLUEPRINTS, FOLDER, INPUT_NODE, OUTPUT_NODE, text
from workflow_format import PACK_NODES, WORKFLOWS, node_spec, ui_to_api

FILES = sorted(FOLDER.glob("*.json"))


def _load(name: str) -> tuple[dict, dict]:
    blueprint = json.loads((FOLDER / f"{name}.json").read_text())
    return blueprint, blueprint["definitions"]["subgraphs"][0]


def test_one_blueprint_per_main_task_and_up_to_date():
    assert [path.stem for path in FILES] == sorted(BLUEPRINTS)
    for name in BLUEPRINTS:  # regenerate with: python tests/blueprint_format.py
        assert (FOLDER / f"{name}.json").read_text() == text(name), name


@pytest.mark.parametrize("name", sorted(BLUEPRINTS))
def test_the_root_is_one_instance_of_the_one_subgraph(name):
    blueprint, subgraph = _load(name)
    assert len(blueprint["definitions"]["subgraphs"]) == 1 and blueprint["links"] == []
    (instance,) = blueprint["nodes"]
    assert instance["type"] == subgraph["id"] and subgraph["name"] == name
    for guid in [blueprint["id"], subgraph["id"], *(io["id"] for io in subgraph["inputs"] + subgraph["outputs"])]:
        assert uuid.UUID(guid)
    assert [(i["name"], i["type"]) for i in instance["inputs"]] == [(i["name"], i["type"]) for i in subgraph["inputs"]]
    assert [(o["name"], o["type"]) for o in instance["outputs"]] == [(o["name"], o["type"]) for o in subgraph["outputs"]]
    assert blueprint["extra"]["BlueprintSearchAliases"] and blueprint["extra"]["BlueprintDescription"]
    assert subgraph["category"] == "FaceCLIP"


@pytest.mark.parametrize("name", sorted(BLUEPRINTS))
def test_links_agree_with_both_ends(name):
    _, subgraph = _load(name)
    nodes = {node["id"]: node for node in subgraph["nodes"]}
    seen_inputs, seen_outputs = {}, {}
    for link in subgraph["links"]:
        if link["origin_id"] == INPUT_NODE:
            io = subgraph["inputs"][link["origin_slot"]]
            assert link["id"] in io["linkIds"] and io["type"] == link["type"], link
            seen_inputs.setdefault(link["origin_slot"], []).append(link["id"])
        else:
            output = nodes[link["origin_id"]]["outputs"][link["origin_slot"]]
            assert link["id"] in output["links"] and output["type"] == link["type"], link
        if link["target_id"] == OUTPUT_NODE:
            io = subgraph["outputs"][link["target_slot"]]
            assert io["linkIds"] == [link["id"]] and io["type"] == link["type"], link
            seen_outputs[link["target_slot"]] = [link["id"]]
        else:
            target = nodes[link["target_id"]]["inputs"][link["target_slot"]]
            assert target["link"] == link["id"] and target["type"] == link["type"], link
    assert {i: io["linkIds"] for i, io in enumerate(subgraph["inputs"])} == seen_inputs
    assert {i: io["linkIds"] for i, io in enumerate(subgraph["outputs"])} == seen_outputs
    ids = {link["id"] for link in subgraph["links"]}
    for node in nodes.values():  # no slot names a link that is not there
        assert {i["link"] for i in node["inputs"] if i["link"] is not None} <= ids, node["type"]
        assert {x for o in node["outputs"] for x in o["links"]} <= ids, node["type"]
    assert subgraph["state"]["lastLinkId"] == max(ids) and subgraph["state"]["lastNodeId"] >= max(nodes)


@pytest.mark.parametrize("name", sorted(BLUEPRINTS))
def test_every_node_exists_with_its_widgets_and_every_needed_input_is_fed(name):
    _, subgraph = _load(name)
    for node in subgraph["nodes"]:
        spec = node_spec(node["type"])  # a core node the workflows use, or one of this pack's (tests/test_node_schemas)
        assert len(node["widgets_values"]) == len(spec["widgets"]), node["type"]
        fed = {i["name"] for i in node["inputs"] if i["link"] is not None}
        optional = {"face"} if node["type"] in PACK_NODES else set()
        assert {name for name, _ in spec["inputs"]} - optional <= fed, node["type"]


@pytest.mark.parametrize("name", sorted(BLUEPRINTS))
def test_it_runs_the_same_graph_as_its_template(name):
    """The subgraph with the template's Load Image on `reference` and its Save Image on `image` runs as the
    template does (less the face preview): same nodes, values and links. The prompt widget's value is the
    template's."""
    blueprint, subgraph = _load(name)
    template = WORKFLOWS[BLUEPRINTS[name].template]().ui()
    photo = next(n for n in template["nodes"] if n["type"] == "LoadImage")
    save = next(n for n in template["nodes"] if n["type"] == "SaveImage")
    ends = {INPUT_NODE: photo["id"], OUTPUT_NODE: save["id"]}
    prompt_links = subgraph["inputs"][1]["linkIds"]
    nodes = [{**n, "inputs": [i for i in n["inputs"] if i["link"] not in prompt_links]} for n in subgraph["nodes"]]
    encoder = next(n for n in subgraph["nodes"] if any(i["link"] in prompt_links for i in n["inputs"]))
    assert blueprint["nodes"][0]["widgets_values"] == [encoder["widgets_values"][0]]
    graph = {"nodes": [*nodes, photo, save], "links": [
        [link["id"], ends.get(link["origin_id"], link["origin_id"]), link["origin_slot"],
         ends.get(link["target_id"], link["target_id"]), link["target_slot"], link["type"]]
        for link in subgraph["links"] if link["id"] not in prompt_links]}
    expected = {k: v for k, v in ui_to_api(template).items() if v["class_type"] != "PreviewImage"}
    assert ui_to_api(graph) == expected


def test_names_are_what_the_node_library_shows():
    for name in BLUEPRINTS:
        assert re.fullmatch(r"[A-Za-z0-9 ]+", name) and name.split()[0] in ("FaceCLIP", "FaceT5")
