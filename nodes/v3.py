"""The host's V3 node API as the nodes use it: the newest versioned API this pack is written for, and schemas
with what only newer hosts know.

`comfy_api.v0_0_3` where the host serves it (newer hosts), else `v0_0_2` (0.3.64, the oldest supported host);
the nodes use only what both declare the same way.
"""
from __future__ import annotations

from typing import Any

try:
    from comfy_api.v0_0_3 import ComfyExtension, io
except ModuleNotFoundError as missing:
    if missing.name != "comfy_api.v0_0_3":  # a host that has it but fails to import it should say so
        raise
    from comfy_api.v0_0_2 import ComfyExtension, io

from .search_aliases import with_search_aliases

__all__ = ["ComfyExtension", "io", "node_schema"]


def node_schema(**fields: Any) -> io.Schema:
    """io.Schema(**fields), with the node's search aliases on hosts that show them."""
    return io.Schema(**with_search_aliases(io.Schema, fields))
