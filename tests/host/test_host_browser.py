"""The templates in the real frontend, in a real browser: ComfyUI headless on CPU with this pack and the tiny models,
its page in headless Chromium (Debian's `chromium`, driven by Playwright from PyPI; no browser download).

Each template is opened through the frontend's template browser, as a user opens it, and must show: no warning dialog (e.g. missing nodes), every
node of the pack with all its widgets holding the saved values, the saved links, no node drawn over another, no error
in the browser console. Then it runs from the Run button, with sizes and steps cut like a user trying it on a CPU,
until every image output node shows its images. A screenshot of each loaded graph lands in FACECLIP_SCREENSHOTS (a
folder; `python tests/support/thumbnails.py FOLDER` makes the templates' thumbnails, README's picture, from them).

Where the frontend has subgraph blueprints (1.27.10 and 1.58.1 both do), the pack's blueprints, copied where a user of
0.3.64 puts them, must be found in the node library by a word users type (an alias where the frontend reads them)
and run from the Run button.

Every test runs on each frontend: the one the host pins (0.3.64: 1.27.10), and where FACECLIP_FRONTEND_ROOT names
another build's static folder (the newest: `pip install --target DIR comfyui-frontend-package==1.58.1`, then
DIR/comfyui_frontend_package/static), that build served by the same host (`--front-end-root`), once as it starts
and once in its Vue nodes mode.

Skips, with the reason, without COMFYUI_PATH, Playwright or a Chromium (CHROMIUM=/path, else `chromium` on PATH),
and the extra frontend's runs without FACECLIP_FRONTEND_ROOT.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from PIL import Image

from host.fixtures import comfy_path, copy_workflow_inputs  # noqa: F401  (fixtures)
from host.server import PACK_NAME, ComfyServer, start_comfy_server
from make_tiny_models import write_tiny_models
from workflow_format import NODE_SIZES, PACK_NODES, WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "example_workflows"
BLUEPRINTS = ROOT / "subgraphs"
# idea_apply loads the identity that idea_train writes: train first
ORDER = ["faceclip_portrait", "faceclip_prompt_batch", "faceclip_id_similarity", "faceclip_flux_portrait", "idea_train",
         "idea_apply", "faceclip_two_people", "faceclip_flux_two_people", "faceclip_identity_strength"]
# What a user on a CPU would turn down before pressing Run (the graphs' own values are for a GPU).
QUICK_VALUES = {
    "width": 64, "height": 64, "target_width": 64, "target_height": 64, ("KSampler", "steps"): 1, ("IDEATrain", "steps"): 2, ("IDEATrain", "batch_size"): 2, "resolution": 64,
    "preview_steps": 1,
}
# Console errors a fresh host gives any page: a new user has no stylesheet or saved files yet (404s), and this
# machine reaches no outside service (the frontend asks for release notes).
HARMLESS_ERRORS = ("Failed to load resource: the server responded with a status of 404",
                   "Failed to load resource: net::ERR_NAME_NOT_RESOLVED",
                   # the frontend's own note when a workflow replaces the start-up graph it had not finished setting up
                   "Attempted to cleanup event listeners for graph that was never set up",
                   # frontends newer than the host (1.58.1 on 0.3.64) list the queue and history from the Jobs API
                   # (/api/jobs), which 0.3.64 lacks: its queue panel stays empty; runs, progress and images still
                   # come over the websocket, as the test checks
                   "[Jobs API] Error fetching jobs: JobsApiError: Failed to fetch jobs: 404",
                   "Failed to fetch queue: JobsApiError: Failed to fetch jobs: 404")
# open dialogs: PrimeVue's (frontend 1.27) and the newer frontends' own both carry the ARIA role
DIALOGS = "[role=dialog]"
VIEWPORT = {"width": 2400, "height": 1350}  # room to draw each whole graph at a readable zoom
PAGE_TIMEOUT_MS = 120_000
RUN_TIMEOUT_S = 600

# The images a node shows: the canvas' (node.imgs, which the canvas loads while drawing), or in the Vue nodes mode the
# node element's loaded <img>s (there a node with several images shows them as a gallery and leaves node.imgs empty).
SHOWN_IMAGES_JS = """(n) => Math.max((n.imgs || []).length,
  [...document.querySelectorAll(`[data-node-id="${n.id}"] img`)].filter((i) => i.complete && i.naturalWidth > 0).length)"""
# Node ids as numbers: frontend 1.27 keeps the saved numbers, 1.58 turns them into strings.
GRAPH_STATE_JS = """() => {
  const shown = """ + SHOWN_IMAGES_JS + """;
  const links = app.graph.links instanceof Map ? [...app.graph.links.values()] : Object.values(app.graph.links);
  return {
    nodes: app.graph.nodes.map((n) => ({
      id: Number(n.id), type: n.type, registered: !!LiteGraph.registered_node_types[n.type],
      box: Array.from(n.getBounding()), images: shown(n),
      widgets: (n.widgets || []).map((w) => [w.name, w.value]),
    })),
    links: links.filter(Boolean).map((l) => [l.id, Number(l.origin_id), l.origin_slot, Number(l.target_id), l.target_slot, l.type]),
  };
}"""


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no Chromium: apt-get install chromium (or CHROMIUM=/path/to/chrome)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    executable = _chromium()
    with sync_api.sync_playwright() as playwright:
        # no sandbox: test machines and containers run as root, where Chromium's sandbox refuses to start
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass(frozen=True)
class Frontend:
    name: str
    root: Path | None  # a frontend build's static folder; None: the one the host pins
    vue_nodes: bool = False  # the frontend's Vue nodes mode (nodes drawn as DOM elements, not on the canvas)


FRONTEND_ROOT = "FACECLIP_FRONTEND_ROOT"


@pytest.fixture(scope="module", params=["pinned", "extra", "extra-vue"])
def frontend(request: pytest.FixtureRequest) -> Frontend:
    if request.param == "pinned":
        return Frontend("pinned", None)
    value = os.environ.get(FRONTEND_ROOT, "")
    if not value:
        pytest.skip(f"{FRONTEND_ROOT} is not set: the newest frontend is tested where it names a frontend build's "
                    "static folder (pip install --no-deps --target DIR comfyui-frontend-package==1.58.1; "
                    "DIR/comfyui_frontend_package/static)")
    root = Path(value)
    if not (root / "index.html").is_file():
        pytest.skip(f"{FRONTEND_ROOT}={value} is no frontend build (no index.html there)")
    frontend = Frontend(request.param, root, request.param == "extra-vue")
    if frontend.vue_nodes and not _has(frontend, "Comfy.VueNodes.Enabled"):
        pytest.skip(f"the frontend in {value} has no Vue nodes mode")
    return frontend


@functools.cache  # each call reads the build's whole JavaScript; the tests ask the same questions per template
def _has(frontend: Frontend, marker: str) -> bool:
    """Whether the frontend's code names `marker` (a setting id, a type prefix): which features a build has."""
    root = frontend.root or Path(importlib.util.find_spec("comfyui_frontend_package").origin).parent / "static"
    return any(marker in path.read_text(errors="ignore") for path in (root / "assets").glob("*.js"))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-models")
    write_tiny_models(folder)
    return folder


@pytest.fixture(scope="module")
def server(comfy_path: Path, frontend: Frontend, tiny_models: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    """A headless host per frontend (one at a time), all on the same tiny models."""
    base_dir = tmp_path_factory.mktemp(f"comfy-host-{frontend.name}")
    (base_dir / "models").symlink_to(tiny_models, target_is_directory=True)
    extra_args = ("--front-end-root", str(frontend.root)) if frontend.root else ()
    with start_comfy_server(comfy_path, base_dir, extra_args) as started:
        yield copy_workflow_inputs(started)


class Page:
    """One browser tab on the host's frontend, recording console errors."""

    def __init__(self, browser: Any, server: ComfyServer, frontend: Frontend) -> None:
        self.page = browser.new_page(viewport=VIEWPORT)
        self.errors: list[str] = []
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}\n{error.stack}"))
        self.page.goto(server.url)
        self.page.wait_for_function("window.app && app.graph && window.LiteGraph && app.canvas", timeout=PAGE_TIMEOUT_MS)
        self.page.wait_for_timeout(1000)  # the frontend's own start-up (settings, default graph)
        # Frontend 1.27.10 itself throws one TypeError while it starts (a setting's onChange, "reading 'id'"), with
        # or without any custom node: errors count from here on, once the page is ready for the user.
        self.errors.clear()
        # for the screenshots: no minimap over the graph, and text drawn at every zoom (not the low-detail view)
        self.page.evaluate("""async () => {
          await app.extensionManager.setting.set('Comfy.Minimap.Visible', false);
          await app.extensionManager.setting.set('LiteGraph.Canvas.MinFontSizeForLOD', 1);
        }""")
        self.page.evaluate("(vue) => app.extensionManager.setting.set('Comfy.VueNodes.Enabled', vue)", frontend.vue_nodes)

    def show_pack_templates(self) -> None:
        """As a user does: the template browser (shown at a first start, else from the side bar's Templates
        button), then the pack's entry in its list."""
        if not self.visible_dialogs():
            self.page.locator('button[aria-label="Templates"]').first.click()
        self.page.locator(DIALOGS).get_by_text(PACK_NAME, exact=True).first.click()

    def open_template(self, name: str) -> None:
        """The pack's templates, then the template's card; until its graph is on the canvas."""
        self.show_pack_templates()
        self.page.locator(DIALOGS).get_by_text(name, exact=True).first.click()
        # the start-up graph has nodes too: wait for the template's (each has one of the pack's)
        self.page.wait_for_function("(pack) => app.graph.nodes.some((n) => pack.includes(n.type)) "
                                    "&& !document.querySelector('[role=dialog]')", arg=list(PACK_NODES), timeout=PAGE_TIMEOUT_MS)
        self.page.wait_for_timeout(1500)  # Load Image fetches its photo

    def state(self) -> dict[str, Any]:
        self.page.evaluate("app.canvas.draw(true, true)")  # bounds are measured while drawing
        return self.page.evaluate(GRAPH_STATE_JS)

    def set_widget(self, node_id: int, name: str, value: Any) -> None:
        self.page.evaluate("""([id, name, value]) => {
          const node = app.graph.nodes.find((n) => Number(n.id) === id);
          const widget = node.widgets.find((w) => w.name === name);
          widget.value = value;
          widget.callback?.(value, app.canvas, node);  // what typing a value calls
        }""", [node_id, name, value])

    def run(self, server: ComfyServer) -> dict[str, Any]:
        """Press Run and wait until the host files the prompt in its history (it does once the prompt has ended,
        well or not; the queue can look empty while the host still validates it). Returns that history entry."""
        before = set(server.get_json("/history"))
        # 1.27: a group whose first button runs; 1.58: the button itself
        self.page.locator('button[data-testid="queue-button"], [data-testid="queue-button"] button').first.click()
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not (new := set(_history_while_busy(server)) - before):
            assert time.monotonic() < deadline, f"no prompt ended in {RUN_TIMEOUT_S}s; log:\n{server.log_text()[-2000:]}"
            time.sleep(1)
        (prompt_id,) = new
        return server.get_json(f"/history/{prompt_id}")[prompt_id]

    def wait_for_images(self) -> None:
        """Until every Save Image and Preview Image node shows its images (the canvas loads them while drawing)."""
        try:
            self.page.wait_for_function("""() => {
              app.canvas.draw(true, true);
              const shown = """ + SHOWN_IMAGES_JS + """;
              const outputs = app.graph.nodes.filter((n) => ["SaveImage", "PreviewImage"].includes(n.type));
              return outputs.every((n) => shown(n) > 0);
            }""", timeout=60_000, polling=500)
        except Exception:  # noqa: BLE001  (the assertion after it says what is missing)
            pass

    def fit_and_screenshot(self, path: Path) -> None:
        """The whole graph in view (as the canvas' fit-view does), then the canvas as the user sees it."""
        self.page.evaluate("""() => {
          const boxes = app.graph.nodes.map((n) => n.getBounding());
          const left = Math.min(...boxes.map((b) => b[0])), top = Math.min(...boxes.map((b) => b[1]));
          const right = Math.max(...boxes.map((b) => b[0] + b[2])), bottom = Math.max(...boxes.map((b) => b[1] + b[3]));
          const canvas = app.canvas.canvas, margin = 30;
          const scale = Math.min((canvas.clientWidth - 2 * margin) / (right - left),
                                 (canvas.clientHeight - 2 * margin) / (bottom - top), 1);
          app.canvas.ds.scale = scale;
          app.canvas.ds.offset = [margin / scale - left, margin / scale - top];
          app.canvas.setDirty(true, true);
          app.canvas.draw(true, true);
        }""")
        self.page.wait_for_timeout(500)
        self.page.locator("#graph-canvas").screenshot(path=str(path))

    def visible_dialogs(self) -> list[str]:
        return [text for text in self.page.locator(DIALOGS).all_inner_texts() if text.strip()]

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not e.startswith(HARMLESS_ERRORS)]

    def close(self) -> None:
        self.page.close()


def _history_while_busy(server: ComfyServer) -> dict[str, Any]:
    """The host's history; empty while a busy CPU keeps the host from answering in time (asked again later)."""
    try:
        return server.get_json("/history")
    except TimeoutError:
        return {}


@pytest.fixture
def page(browser: Any, server: ComfyServer, frontend: Frontend) -> Iterator[Page]:
    opened = Page(browser, server, frontend)
    yield opened
    opened.close()


def _overlaps(state: dict[str, Any]) -> list[tuple[str, str]]:
    nodes = state["nodes"]
    found = []
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            (ax, ay, aw, ah), (bx, by, bw, bh) = a["box"], b["box"]
            if ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah:
                found.append((f"{a['type']} #{a['id']}", f"{b['type']} #{b['id']}"))
    return found


def _screenshot_dir(tmp_path: Path, frontend: Frontend) -> Path:
    """FACECLIP_SCREENSHOTS (the thumbnails' source) for the pinned frontend, a subfolder per other frontend."""
    folder = Path(os.environ.get("FACECLIP_SCREENSHOTS") or tmp_path)
    if frontend.root:
        folder = folder / frontend.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_host_lists_every_template_with_its_thumbnail(server: ComfyServer) -> None:
    listed = server.get_json("/api/workflow_templates")
    assert sorted(listed[PACK_NAME]) == sorted(WORKFLOWS)
    for name in WORKFLOWS:  # the card's picture in the template browser
        with urlopen(f"{server.url}/api/workflow_templates/{PACK_NAME}/{name}.jpg", timeout=30) as response:
            assert response.headers["Content-Type"] == "image/jpeg"


def test_the_template_browser_shows_each_thumbnail(page: Page, frontend: Frontend, tmp_path: Path) -> None:
    page.show_pack_templates()
    # the frontend fetches each card's NAME.jpg and shows it from a blob URL
    widths = page.page.evaluate(f"""async () => {{
      for (let tries = 0; tries < 100; tries++) {{
        const cards = [...document.querySelectorAll("[role=dialog] img[src^='blob:']")];
        if (cards.length === {len(WORKFLOWS)} && cards.every((img) => img.complete && img.naturalWidth > 0))
          return cards.map((img) => img.naturalWidth);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }}
      return [...document.querySelectorAll("[role=dialog] img")].map((img) => img.getAttribute("src"));
    }}""")
    thumbnails = [Image.open(TEMPLATES / f"{name}.jpg").width for name in WORKFLOWS]
    assert sorted(widths) == sorted(thumbnails)
    page.page.screenshot(path=str(_screenshot_dir(tmp_path, frontend) / "template_browser.png"))
    assert page.unexpected_errors() == []


def test_every_saved_node_size_holds_what_the_frontend_draws(page: Page) -> None:
    """The templates' node sizes (workflow_format.NODE_SIZES) are no smaller than the frontend's own minimum for each
    node with today's inputs and widgets: a widget added to a node without room made for it fails here."""
    minimum = page.page.evaluate("""(types) => Object.fromEntries(types.map((type) => {
      const node = LiteGraph.createNode(type);
      app.graph.add(node);  // sized as in a graph (fonts, widgets set up)
      const size = node.computeSize();
      app.graph.remove(node);
      return [type, [Math.ceil(size[0]), Math.ceil(size[1])]];
    }))""", list(NODE_SIZES))
    too_small = {kind: (tuple(minimum[kind]), room) for kind, room in NODE_SIZES.items()
                 if minimum[kind][0] > room[0] or minimum[kind][1] > room[1]}
    assert too_small == {}, f"(frontend's minimum, saved) for nodes saved too small: {too_small}"


@pytest.mark.parametrize("name", ORDER)
def test_template_opens_as_saved_and_runs_from_the_page(page: Page, server: ComfyServer, frontend: Frontend, name: str,
                                                       tmp_path: Path) -> None:
    saved = json.loads((TEMPLATES / f"{name}.json").read_text())
    page.open_template(name)
    state = page.state()

    assert page.visible_dialogs() == []  # e.g. "Some nodes are missing"
    assert all(node["registered"] for node in state["nodes"]), [n["type"] for n in state["nodes"] if not n["registered"]]
    shown = {node["id"]: node for node in state["nodes"]}
    for node in saved["nodes"]:
        if node["type"] in PACK_NODES:
            names = PACK_NODES[node["type"]]["widgets"]
            assert shown[node["id"]]["widgets"] == [list(pair) for pair in zip(names, node["widgets_values"])], node["type"]
    assert sorted(state["links"]) == sorted(saved["links"])
    assert _overlaps(state) == []
    page.fit_and_screenshot(_screenshot_dir(tmp_path, frontend) / f"{name}.png")

    for node in state["nodes"]:
        for widget, _ in node["widgets"]:
            value = QUICK_VALUES.get((node["type"], widget), QUICK_VALUES.get(widget))
            if value is not None:
                page.set_widget(node["id"], widget, value)
    ended = page.run(server)
    assert ended["status"]["status_str"] == "success", (ended["status"], server.log_text()[-3000:])
    page.wait_for_images()

    after = page.state()
    outputs = [node for node in after["nodes"] if node["type"] in ("SaveImage", "PreviewImage")]
    assert outputs and all(node["images"] > 0 for node in outputs), (outputs, page.unexpected_errors())
    assert _overlaps(after) == []  # images shown in the nodes cover no neighbour
    assert page.visible_dialogs() == [] and page.unexpected_errors() == [], (page.visible_dialogs(), page.unexpected_errors())


def test_a_new_idea_train_node_keeps_the_seed_a_user_sets(page: Page, server: ComfyServer) -> None:
    """A freshly added node (not one from a saved workflow): the seed control starts at fixed, and queueing twice
    leaves the seed as typed."""
    trained = server.models_dir / "embeddings" / "seed_check.safetensors"
    trained.unlink(missing_ok=True)  # the models folder is shared by the frontends' hosts
    page.open_template("idea_train")
    fresh = page.page.evaluate("""() => {
      const old = app.graph.nodes.find((n) => n.type === "IDEATrain");
      const node = LiteGraph.createNode("IDEATrain");
      node.pos = [old.pos[0], old.pos[1]];
      const sources = old.inputs.map((input) => input.link == null ? null : app.graph.links[input.link] ?? app.graph.links.get(input.link));
      const targets = old.outputs.map((output) => (output.links || []).map((id) => app.graph.links[id] ?? app.graph.links.get(id)));
      app.graph.remove(old);
      app.graph.add(node);
      sources.forEach((link, slot) => link && app.graph.getNodeById(link.origin_id).connect(link.origin_slot, node, slot));
      targets.forEach((links, slot) => links.forEach((link) => node.connect(slot, app.graph.getNodeById(link.target_id), link.target_slot)));
      return Number(node.id);
    }""")
    control = next(value for name, value in _widgets(page, fresh) if name == "control_after_generate")
    assert control == "fixed"

    for widget, value in {"name": "seed_check", "steps": 1, "batch_size": 1, "resolution": 64, "preview_steps": 0,
                          "seed": 1234}.items():
        page.set_widget(fresh, widget, value)
    for _ in range(2):  # the second run finds every output cached: nothing runs, but the frontend applies its control
        assert page.run(server)["status"]["status_str"] == "success"
        assert dict(_widgets(page, fresh))["seed"] == 1234
    assert trained.is_file()  # it did train
    assert page.unexpected_errors() == []


def _widgets(page: Page, node_id: int) -> list[tuple[str, Any]]:
    return [tuple(pair) for pair in page.page.evaluate(
        "(id) => app.graph.nodes.find((n) => Number(n.id) === id).widgets.map((w) => [w.name, w.value])", node_id)]


@pytest.fixture(scope="module")
def bare_server(comfy_path: Path, frontend: Frontend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    """A second host with this pack but no model file at all: a new user's first start."""
    extra_args = ("--front-end-root", str(frontend.root)) if frontend.root else ()
    with start_comfy_server(comfy_path, tmp_path_factory.mktemp(f"comfy-host-no-models-{frontend.name}"),
                            extra_args) as started:
        yield copy_workflow_inputs(started)


@pytest.mark.parametrize("name", ORDER)
def test_a_template_opened_without_its_models_names_every_file(browser: Any, bare_server: ComfyServer,
                                                               frontend: Frontend, name: str) -> None:
    """The frontend lists each file the template's loaders name, with its folder: 1.27's missing-models dialog as
    `folder / file`; newer frontends (1.58) in the Issues panel their warning's View details opens, each file above
    its folder (the wait fails, naming nothing, unless the page shows every label)."""
    saved = json.loads((TEMPLATES / f"{name}.json").read_text())
    models = [(model["directory"], model["name"]) for node in saved["nodes"] for model in node["properties"].get("models", [])]
    assert models
    issues_panel = _has(frontend, "rightSidePanel")
    expected = [f"{file}\n{folder}" if issues_panel else f"{folder} / {file}" for folder, file in models]
    page = Page(browser, bare_server, frontend)
    try:
        page.show_pack_templates()
        page.page.locator(DIALOGS).get_by_text(name, exact=True).first.click()
        if issues_panel:
            page.page.get_by_text("View details", exact=True).first.click(timeout=PAGE_TIMEOUT_MS)
        page.page.wait_for_function(
            "([selector, labels]) => [...document.querySelectorAll(selector)]"
            ".some((d) => labels.every((l) => d.innerText.includes(l)))",
            arg=["body" if issues_panel else DIALOGS, expected], timeout=PAGE_TIMEOUT_MS)
        page.page.screenshot(path=str(bare_server.base_dir / f"missing_models_{name}.png"))
    finally:
        page.close()


@pytest.fixture
def blueprints_in_the_user_folder(server: ComfyServer) -> Iterator[list[str]]:
    """The pack's blueprints as a user of ComfyUI 0.3.64 installs them: that host serves no pack's subgraphs/
    (newer ones list them at /global_subgraphs), but every host serves the user's own, user/default/subgraphs/."""
    folder = server.base_dir / "user" / "default" / "subgraphs"
    folder.mkdir(parents=True, exist_ok=True)
    paths = sorted(BLUEPRINTS.glob("*.json"))
    for path in paths:
        shutil.copy(path, folder / path.name)
    yield [path.stem for path in paths]
    shutil.rmtree(folder)


def test_a_blueprint_is_found_by_the_words_users_type_and_runs(blueprints_in_the_user_folder: list[str], page: Page,
                                                                server: ComfyServer, frontend: Frontend) -> None:
    if not _has(frontend, "SubgraphBlueprint."):
        pytest.skip("this frontend has no subgraph blueprints")
    if page.visible_dialogs():  # the template browser a fresh host opens at the first start
        page.page.keyboard.press("Escape")
        page.page.wait_for_function("() => !document.querySelector('[role=dialog]')", timeout=PAGE_TIMEOUT_MS)
    page.page.evaluate("app.graph.clear()")  # a blank graph: Run would also run the start-up graph's nodes
    page.page.locator('button[aria-label*="Node Library"], button[aria-label="Nodes"]').first.click()
    # an alias, in neither name, where the frontend reads blueprints' search aliases (1.58); else a word of the names
    page.page.get_by_placeholder("Search Nodes...").fill("instantid" if _has(frontend, "BlueprintSearchAliases")
                                                         else "portrait")
    for name in blueprints_in_the_user_folder:
        page.page.get_by_text(name, exact=True).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    page.page.get_by_text("FaceCLIP SDXL portrait", exact=True).first.dblclick()  # adds it to the graph
    page.page.wait_for_function("() => app.graph.nodes.some((n) => n.isSubgraphNode?.())", timeout=PAGE_TIMEOUT_MS)
    added = page.page.evaluate("""() => {
      const node = app.graph.nodes.find((n) => n.isSubgraphNode?.());
      return {inputs: node.inputs.map((i) => [i.name, i.type]), outputs: node.outputs.map((o) => [o.name, o.type]),
              widgets: node.widgets.map((w) => w.name), inner: node.subgraph.nodes.map((n) => n.type),
              registered: node.subgraph.nodes.every((n) => !!LiteGraph.registered_node_types[n.type])};
    }""")
    saved = json.loads((BLUEPRINTS / "FaceCLIP SDXL portrait.json").read_text())["definitions"]["subgraphs"][0]
    assert added == {"inputs": [["reference", "IMAGE"], ["prompt", "STRING"]], "outputs": [["image", "IMAGE"]],
                     "widgets": ["prompt"], "inner": [n["type"] for n in saved["nodes"]], "registered": True}

    # as a user wires it: the reference photo in, Save Image out, then the CPU-sized values inside, and Run
    page.page.evaluate("""(quick) => {
      const node = app.graph.nodes.find((n) => n.isSubgraphNode?.());
      const photo = LiteGraph.createNode("LoadImage"), save = LiteGraph.createNode("SaveImage");
      photo.pos = [node.pos[0] - 400, node.pos[1]]; save.pos = [node.pos[0] + 500, node.pos[1]];
      app.graph.add(photo); app.graph.add(save);
      photo.widgets.find((w) => w.name === "image").value = "faceclip_reference.png";
      photo.connect(0, node, 0); node.connect(0, save, 0);
      for (const inner of node.subgraph.nodes)
        for (const widget of inner.widgets || [])
          if (quick[inner.type + "." + widget.name] ?? quick[widget.name]) widget.value = quick[inner.type + "." + widget.name] ?? quick[widget.name];
    }""", {"width": 64, "height": 64, "target_width": 64, "target_height": 64, "KSampler.steps": 1})
    ended = page.run(server)
    assert ended["status"]["status_str"] == "success", (ended["status"], server.log_text()[-3000:])
    page.wait_for_images()
    saved_images = [n for n in page.state()["nodes"] if n["type"] == "SaveImage"]
    assert saved_images and saved_images[0]["images"] > 0
    assert page.visible_dialogs() == [] and page.unexpected_errors() == [], (page.visible_dialogs(), page.unexpected_errors())
