"""Thin ComfyUI adapters over faceclip_core: widgets and types in, core calls, host types out."""
from __future__ import annotations

import importlib.util

from . import face_nodes, faceclip_nodes, idea_nodes

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
for _module in (faceclip_nodes, face_nodes, idea_nodes):
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)

# FaceT5 (FLUX) nodes: declared on the V3 schema (comfy_api), so they register only inside a host
if importlib.util.find_spec("comfy_api") is not None:
    from .facet5_nodes import FACET5_NODES

    for _node in FACET5_NODES:
        _schema = _node.GET_SCHEMA()
        NODE_CLASS_MAPPINGS[_schema.node_id] = _node
        NODE_DISPLAY_NAME_MAPPINGS[_schema.node_id] = _schema.display_name
