"""The template browser's thumbnails on every host.

The frontend (1.27 to 1.58 at least) shows a pack template's picture from
`/api/workflow_templates/<pack folder>/<NAME>.jpg`. ComfyUI up to 0.3.64 serves the whole `example_workflows`
folder there, NAME.jpg included; newer hosts serve only the templates' NAME.json, so the pictures stop showing.
This route serves the pack's own thumbnails at that address on every host (where the host's static folder also
serves them, either answers with the same file).
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "example_workflows"


def thumbnail_path(name: str) -> Path | None:
    """The thumbnail file of this pack's template `name`; None for a name that is no template with a thumbnail."""
    if name not in {path.stem for path in TEMPLATES_DIR.glob("*.json")}:  # only names listed: no path tricks
        return None
    path = TEMPLATES_DIR / f"{name}.jpg"
    return path if path.is_file() else None


def add_thumbnail_route(routes: web.RouteTableDef, pack_folder: str) -> None:
    """GET /workflow_templates/<pack_folder>/<NAME>.jpg on `routes` (the host copies it under /api too)."""

    @routes.get(f"/workflow_templates/{pack_folder}/{{name}}.jpg")
    async def template_thumbnail(request: web.Request) -> web.StreamResponse:
        path = thumbnail_path(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path)


def register_thumbnail_route(pack_folder: str) -> None:
    """Add the route to the running host's server; nothing where there is none (the pack imported by a tool)."""
    try:
        from server import PromptServer
    except ImportError:
        return
    if getattr(PromptServer, "instance", None) is None:
        return
    add_thumbnail_route(PromptServer.instance.routes, pack_folder)
