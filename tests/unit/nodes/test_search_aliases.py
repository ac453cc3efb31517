"""Search aliases on every node, and the versioned host API the nodes import, on stand-ins of an older host
(0.3.64: comfy_api.v0_0_2 only, io.Schema without `search_aliases`) and a newer one (v0_0_3, with the field).
Needs no ComfyUI; tests/test_node_schemas.py checks the same on a real host checkout."""
from __future__ import annotations

import dataclasses
import importlib
import importlib.abc
import importlib.util
import sys
import types
from pathlib import Path

import pytest

from workflow_format import PACK_NODES

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nodes.search_aliases import SEARCH_ALIASES, with_search_aliases  # noqa: E402


@dataclasses.dataclass
class OldSchema:  # as 0.3.64 declares it: a dataclass, so an unknown keyword is a TypeError
    node_id: str
    display_name: str = ""


@dataclasses.dataclass
class NewSchema(OldSchema):
    search_aliases: list[str] = dataclasses.field(default_factory=list)


def test_every_node_has_aliases_users_type():
    assert set(SEARCH_ALIASES) == set(PACK_NODES)
    for node_id, aliases in SEARCH_ALIASES.items():
        assert len(aliases) == len(set(aliases)) and all(a == a.strip().lower() and a for a in aliases), node_id
    encoders = ("FaceCLIPLoader", "FaceCLIPTextEncodeSDXL", "FaceT5Loader", "FaceT5TextEncodeFlux")
    for node_id in encoders:  # what users of other identity packs search for
        assert {"face", "identity", "instantid", "pulid", "ip-adapter face", "faceid"} <= set(SEARCH_ALIASES[node_id])
    assert "textual inversion" in SEARCH_ALIASES["IDEATrain"] and "arcface" in SEARCH_ALIASES["FaceIDSimilarity"]


def test_a_host_without_the_field_gets_the_schema_unchanged():
    fields = {"node_id": "FaceCLIPLoader", "display_name": "FaceCLIP Loader"}
    assert with_search_aliases(OldSchema, fields) == fields
    assert OldSchema(**with_search_aliases(OldSchema, fields)) == OldSchema(**fields)
    with pytest.raises(TypeError):  # what passing it anyway would do there
        OldSchema(**fields, search_aliases=["face"])


def test_a_host_with_the_field_gets_the_aliases():
    schema = NewSchema(**with_search_aliases(NewSchema, {"node_id": "IDEAApply", "display_name": "ID-EA Apply"}))
    assert schema.search_aliases == list(SEARCH_ALIASES["IDEAApply"]) and schema.display_name == "ID-EA Apply"


def _stand_in_host(monkeypatch: pytest.MonkeyPatch, schema: type, versions: tuple[str, ...]) -> dict[str, types.ModuleType]:
    """comfy_api with the given versioned modules, each an io with `schema` as io.Schema; nodes.v3 imported anew."""
    package = types.ModuleType("comfy_api")
    package.__path__ = []
    monkeypatch.setitem(sys.modules, "comfy_api", package)
    for name in ("comfy_api.v0_0_1", "comfy_api.v0_0_2", "comfy_api.v0_0_3"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    served = {}
    for version in versions:
        module = types.ModuleType(f"comfy_api.{version}")
        module.io = types.SimpleNamespace(Schema=schema, version=version)
        module.ComfyExtension = type(f"ComfyExtension_{version}", (), {})
        monkeypatch.setitem(sys.modules, module.__name__, module)
        served[version] = module
    monkeypatch.delitem(sys.modules, "nodes.v3", raising=False)  # restored after the test
    return served


def test_nodes_use_v0_0_3_where_the_host_serves_it(monkeypatch):
    served = _stand_in_host(monkeypatch, NewSchema, ("v0_0_2", "v0_0_3"))
    v3 = importlib.import_module("nodes.v3")
    assert v3.io is served["v0_0_3"].io and v3.ComfyExtension is served["v0_0_3"].ComfyExtension
    assert v3.node_schema(node_id="FaceCLIPDetectFace").search_aliases == list(SEARCH_ALIASES["FaceCLIPDetectFace"])


def test_nodes_fall_back_to_v0_0_2_on_an_older_host(monkeypatch):
    served = _stand_in_host(monkeypatch, OldSchema, ("v0_0_2",))
    v3 = importlib.import_module("nodes.v3")
    assert v3.io is served["v0_0_2"].io
    assert v3.node_schema(node_id="FaceCLIPDetectFace", display_name="x") == OldSchema("FaceCLIPDetectFace", "x")


class _BrokenVersion(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A host whose comfy_api.v0_0_3 exists but needs a package that is not installed."""

    def find_spec(self, name, path, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "comfy_api.v0_0_3" else None

    def exec_module(self, module):
        raise ModuleNotFoundError("No module named 'a_missing_dependency'", name="a_missing_dependency")


def test_a_v0_0_3_that_fails_to_import_is_not_hidden(monkeypatch):
    _stand_in_host(monkeypatch, NewSchema, ("v0_0_2",))
    monkeypatch.setattr(sys, "meta_path", [_BrokenVersion(), *sys.meta_path])
    with pytest.raises(ModuleNotFoundError, match="a_missing_dependency"):
        importlib.import_module("nodes.v3")
