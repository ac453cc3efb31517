"""Template thumbnails on hosts whose template route serves only .json (ComfyUI newer than 0.3.64), tested on a
stand-in of that route in a real aiohttp server, routes in the host's order (a pack's routes are added while it
is imported, before the host adds its own, and each is served under /api too). 0.3.64 itself:
tests/test_host_browser.py. Skips without aiohttp (the host's requirement, not the pack's)."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

web = pytest.importorskip("aiohttp.web", reason="aiohttp is not installed (it comes with ComfyUI's requirements)")
test_utils = pytest.importorskip("aiohttp.test_utils")

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nodes.thumbnails import TEMPLATES_DIR, add_thumbnail_route  # noqa: E402

PACK = "comfyui-faceclip"


def _newest_host_app(with_pack_route: bool) -> web.Application:
    routes = web.RouteTableDef()
    if with_pack_route:
        add_thumbnail_route(routes, PACK)

    @routes.get("/workflow_templates/{module_name}/{filename}")
    async def template_file(request):  # the newer host's rule: a listed template's NAME.json, nothing else
        filename = request.match_info["filename"]
        path = TEMPLATES_DIR / filename
        if request.match_info["module_name"] != PACK or not filename.endswith(".json") or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    api_routes = web.RouteTableDef()
    for route in routes:
        api_routes.route(route.method, "/api" + route.path)(route.handler)
    app = web.Application()
    app.add_routes(api_routes)
    app.add_routes(routes)
    return app


async def _get(app: web.Application, paths: list[str]) -> list[tuple[int, str, bytes]]:
    async with test_utils.TestClient(test_utils.TestServer(app)) as client:
        answers = []
        for path in paths:
            response = await client.get(path)
            answers.append((response.status, response.headers.get("Content-Type", ""), await response.read()))
        return answers


def test_thumbnails_show_where_the_host_serves_only_json():
    name = "faceclip_portrait"
    without, = asyncio.run(_get(_newest_host_app(False), [f"/api/workflow_templates/{PACK}/{name}.jpg"]))
    assert without[0] == 404  # the problem: the frontend's picture request finds nothing

    picture, workflow, plain = asyncio.run(_get(_newest_host_app(True), [
        f"/api/workflow_templates/{PACK}/{name}.jpg", f"/api/workflow_templates/{PACK}/{name}.json",
        f"/workflow_templates/{PACK}/{name}.jpg"]))
    assert picture == (200, "image/jpeg", (TEMPLATES_DIR / f"{name}.jpg").read_bytes())
    assert workflow[0] == 200 and workflow[2] == (TEMPLATES_DIR / f"{name}.json").read_bytes()  # the host's own
    assert plain[:2] == (200, "image/jpeg")


def test_only_this_packs_template_thumbnails_are_served():
    answers = asyncio.run(_get(_newest_host_app(True), [
        f"/api/workflow_templates/{PACK}/no_such_template.jpg",
        f"/api/workflow_templates/{PACK}/..%2F..%2Fpyproject.jpg",
        f"/api/workflow_templates/{PACK}/input%2Ffaceclip_reference.jpg",
        "/api/workflow_templates/another-pack/faceclip_portrait.jpg"]))
    assert [status for status, _, _ in answers] == [404, 404, 404, 404]
