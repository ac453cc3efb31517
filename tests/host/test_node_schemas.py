"""The V3 node declarations, read without a host (comfy_api from COMFYUI_PATH's checkout; skipped without one).

What saved workflows depend on stays as it was before the move to V3: node ids, display names, and the widget
and link order that tests/support/workflow_format.py writes (a UI workflow stores widget values by position).
"""
from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from comfy_api_import import node_extension
from workflow_format import PACK_NODES, schema_spec

ROOT = Path(__file__).resolve().parents[2]
# ids and display names as the V1 nodes registered them: saved workflows find nodes by id, users by name
DISPLAY_NAMES = {
    "FaceCLIPLoader": "FaceCLIP Loader",
    "FaceCLIPTextEncodeSDXL": "FaceCLIP Text Encode (SDXL)",
    "FaceCLIPInsightFaceLoader": "InsightFace Loader (FaceCLIP)",
    "FaceCLIPDetectFace": "FaceCLIP Detect Face",
    "FaceIDSimilarity": "Face ID Similarity",
    "IDEATrain": "ID-EA Train",
    "IDEALoader": "ID-EA Loader",
    "IDEAApply": "ID-EA Apply",
}


@pytest.fixture(autouse=True)
def pack_nodes_package_is_importable() -> None:
    """In-process host tests (tests/host/in_process.py) import ComfyUI's nodes.py as `nodes`, which hides this pack's
    `nodes` package for the rest of that pytest process."""
    loaded = sys.modules.get("nodes")
    if loaded is not None and not hasattr(loaded, "__path__"):
        pytest.skip("ComfyUI's nodes.py was imported into this pytest process by an in-process host test and hides "
                    "this pack's `nodes` package: run tests/host/test_node_schemas.py in a pytest process of its own")


@pytest.fixture(scope="module")
def extension():
    return node_extension()


@pytest.fixture(scope="module")
def schemas(extension):
    return {node.GET_SCHEMA().node_id: (node, node.GET_SCHEMA()) for node in extension.NODES}


def test_the_entrypoint_registers_every_node_once(extension):
    registered = asyncio.run(extension.comfy_entrypoint())
    nodes = asyncio.run(registered.get_node_list())
    assert nodes == extension.NODES
    assert len({node.GET_SCHEMA().node_id for node in nodes}) == len(nodes)


def test_ids_and_display_names_are_unchanged(schemas):
    assert {node_id: schemas[node_id][1].display_name for node_id in DISPLAY_NAMES if node_id in schemas} == DISPLAY_NAMES


def test_every_input_and_output_says_what_it_is(schemas):
    for node_id, (_, schema) in schemas.items():
        assert schema.category.startswith("FaceCLIP") and schema.description, node_id
        for item in [*schema.inputs, *schema.outputs]:
            assert item.tooltip, f"{node_id}.{item.id} has no tooltip"


def test_saved_workflows_see_the_same_widgets_links_and_outputs(schemas):
    for node_id, (node, _) in schemas.items():
        assert node_id in PACK_NODES, f"{node_id}: add its widgets, links and outputs to PACK_NODES in tests/support/workflow_format.py"
        assert schema_spec(node) == {key: [tuple(x) if isinstance(x, list) else x for x in value]
                                     for key, value in PACK_NODES[node_id].items()}, node_id


def test_search_aliases_reach_the_schema_where_this_host_has_the_field(schemas):
    from nodes.search_aliases import SEARCH_ALIASES, schema_takes
    from nodes.v3 import io

    for node_id, (_, schema) in schemas.items():
        if schema_takes(io.Schema, "search_aliases"):  # newer hosts
            assert schema.search_aliases == list(SEARCH_ALIASES[node_id]), node_id
        else:  # 0.3.64: the field does not exist, and the schema was built without it
            assert not hasattr(schema, "search_aliases"), node_id


def test_numbers_have_bounds(schemas):
    for node_id, (_, schema) in schemas.items():
        for item in schema.inputs:
            if item.get_io_type() in ("INT", "FLOAT"):
                assert item.min is not None and item.max is not None, f"{node_id}.{item.id}"


def test_idea_train_defaults_come_from_the_core_config(schemas):
    from faceclip_core.idea import TrainConfig

    _, schema = schemas["IDEATrain"]
    defaults = {item.id: getattr(item, "default", None) for item in schema.inputs}
    config = TrainConfig()
    assert {k: defaults[k] for k in ("steps", "batch_size", "micro_batch", "resolution", "seed")} == {
        "steps": config.steps, "batch_size": config.batch_size, "micro_batch": config.micro_batch,
        "resolution": config.resolution, "seed": config.seed}


def test_idea_train_validation_refuses_a_name_that_is_no_file_name(schemas):
    node, _ = schemas["IDEATrain"]
    assert node.validate_inputs(name="my person-2.v1") is True
    for bad in ("../checkpoints/sd_xl_base_1.0", "/etc/x", "", ".hidden", "a" * 101, "a\\b"):
        assert isinstance(node.validate_inputs(name=bad), str), bad
    assert node.validate_inputs() is True  # a name from a link is checked when the node runs


def test_idea_apply_validation_refuses_a_strength_that_is_not_finite(schemas):
    node, _ = schemas["IDEAApply"]
    assert node.validate_inputs(strength=0.8) is True
    assert "finite" in node.validate_inputs(strength=float("nan"))
    assert "between 0.0 and 3.0" in node.validate_inputs(strength=7.0)
    assert "must be a number" in node.validate_inputs(strength="1")


def test_idea_loader_runs_again_when_its_file_changes(schemas, tmp_path, monkeypatch):
    import nodes.idea_nodes as idea_nodes

    node, _ = schemas["IDEALoader"]
    path = tmp_path / "jane.idea.safetensors"
    monkeypatch.setattr(idea_nodes, "idea_file_path", lambda name: tmp_path / name)  # the host's embeddings folder
    monkeypatch.setattr(idea_nodes, "idea_files", lambda: [path.name])  # its dropdown
    assert node.fingerprint_inputs(idea_file=path.name) == path.name  # missing: execute names it
    assert node.fingerprint_inputs(idea_file=None) is None  # not offered: execute refuses it
    path.write_bytes(b"1")
    first = node.fingerprint_inputs(idea_file=path.name)
    path.write_bytes(b"22")
    assert node.fingerprint_inputs(idea_file=path.name) != first


def test_the_pack_refuses_an_old_host_in_one_line():
    from nodes.host import MIN_COMFYUI, host_version_problem

    assert host_version_problem(".".join(map(str, MIN_COMFYUI))) is None
    assert host_version_problem("1.0.0") is None
    problem = host_version_problem("0.3.40")
    assert "needs ComfyUI 0.3.64 or newer" in problem and "0.3.40" in problem and "\n" not in problem
    assert "older than that" in host_version_problem(None)


def test_pyproject_states_the_same_lowest_host():
    from nodes.host import MIN_COMFYUI

    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^requires-comfyui = ">=' + re.escape(".".join(map(str, MIN_COMFYUI))) + '"$', text, re.M)


def test_an_old_host_gets_one_log_line_and_no_nodes(monkeypatch, caplog):
    import importlib.util
    import logging
    import sys
    import types

    monkeypatch.setitem(sys.modules, "comfyui_version", types.SimpleNamespace(__version__="0.3.40"))
    spec = importlib.util.spec_from_file_location("faceclip_pack_under_test", ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    pack = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, pack)
    with caplog.at_level(logging.INFO):
        spec.loader.exec_module(pack)  # as ComfyUI imports a custom node package
    assert pack.NODE_CLASS_MAPPINGS == {} and not hasattr(pack, "comfy_entrypoint")
    assert [r.getMessage() for r in caplog.records] == [
        "comfyui-faceclip needs ComfyUI 0.3.64 or newer (its V3 node schema), but this ComfyUI is 0.3.40: update "
        "ComfyUI (git pull, or the Manager's Update ComfyUI); the FaceCLIP nodes are not loaded."]
    assert f"{spec.name}.nodes.extension" not in sys.modules  # comfy_api was never reached


def _values_not_offered(item) -> list:
    """Values a hand-written graph can hold that this widget input does not offer (after the host's own conversion:
    it turns literal INT/FLOAT/STRING/BOOLEAN values into those types, and passes anything to a V3 COMBO)."""
    kind = item.get_io_type()
    if kind == "COMBO":
        return ["no_such_choice.pt", None, 1, ["a", 0], {"__value__": 1}]
    if kind in ("INT", "FLOAT"):
        return [item.min - 1, item.max + 1, 10**300] + ([float("nan"), float("inf")] if kind == "FLOAT" else [0.5])
    if kind == "BOOLEAN":
        return ["false", 1, None]
    if kind == "STRING":
        return [None, 3]
    return []  # a link: the host checks its type; the node's require* checks its value


def test_every_node_checks_its_inputs_against_its_schema(extension):
    from nodes.checked_node import CheckedNode

    for node in extension.NODES:
        assert issubclass(node, CheckedNode), f"{node.__name__}: derive it from nodes.checked_node.CheckedNode"
        assert getattr(node.execute, "checks_inputs", False), node.__name__


def test_a_value_the_schema_does_not_offer_is_refused_at_validation_and_before_any_work(schemas):
    from faceclip_core.errors import UsageError

    checked = 0
    for node_id, (node, schema) in schemas.items():
        for item in schema.inputs:
            for value in _values_not_offered(item):
                if value is not None:  # validation sees None for every linked input: execute checks it
                    problem = node.validate_inputs(**{item.id: value})
                    assert isinstance(problem, str) and problem.startswith(f"{schema.display_name}: {item.id} "), (
                        node_id, item.id, value, problem)
                # execute refuses it before its own code runs: no other input is given, so any work would fail otherwise
                with pytest.raises(UsageError, match=rf"^{re.escape(schema.display_name)}: {item.id} "):
                    node.execute(**{item.id: value})
                checked += 1
    assert checked > 80


def test_the_choices_checked_are_the_ones_the_schema_offers(schemas):
    node, schema = schemas["FaceCLIPLoader"]
    (dtype,) = [item for item in schema.inputs if item.id == "dtype"]
    for choice in dtype.options:
        assert node.validate_inputs(dtype=choice) is True
    problem = node.validate_inputs(dtype="no_such_choice.pt")
    assert problem == ("FaceCLIP Loader: dtype 'no_such_choice.pt' is not one of its choices (auto, bf16, fp16, fp32): "
                       "pick one in the node (a graph from another version of the pack, or written by hand, can hold a "
                       "value the node does not offer).")
    node, _ = schemas["FaceCLIPTextEncodeSDXL"]
    assert "multiple_faces 'last' is not one of its choices (first, average, one per face)" in node.validate_inputs(
        multiple_faces="last")


def test_a_host_clone_of_a_node_checks_once(schemas):
    from comfy_api.internal import shallow_clone_class

    node, _ = schemas["FaceCLIPLoader"]
    clone = shallow_clone_class(node)  # what the host runs execute on
    assert clone.execute.__func__ is node.execute.__func__
