"""The pack's registration with ComfyUI: one list of V3 node classes, handed over by a ComfyExtension."""
from __future__ import annotations

from .v3 import ComfyExtension, io

from .control_nodes import CONTROL_NODES
from .face_nodes import FACE_NODES
from .faceclip_nodes import FACECLIP_NODES
from .facet5_nodes import FACET5_NODES
from .idea_nodes import IDEA_NODES

# A new node module adds its list here.
NODES: list[type[io.ComfyNode]] = [*FACECLIP_NODES, *FACET5_NODES, *FACE_NODES, *IDEA_NODES, *CONTROL_NODES]


class FaceCLIPExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODES


async def comfy_entrypoint() -> FaceCLIPExtension:
    return FaceCLIPExtension()
