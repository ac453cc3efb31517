"""Thin ComfyUI adapters over faceclip_core: widgets and types in, core calls, host types out."""
from __future__ import annotations

from . import face_nodes, faceclip_nodes, idea_nodes

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
for _module in (faceclip_nodes, face_nodes, idea_nodes):
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)
