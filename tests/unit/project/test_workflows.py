"""The example workflows: UI and API formats agree, and they use only this pack's and core nodes,
the README's model file names and files that ship in example_workflows/input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from workflow_format import CORE_NODES, NODE_SIZES, PACK_NODES, TITLE_HEIGHT, WORKFLOWS, node_spec, ui_to_api

ROOT = Path(__file__).resolve().parents[3]
UI_FILES = sorted((ROOT / "example_workflows").glob("*.json"))
MODEL_WIDGETS = {"unet_name", "vae_name", "ckpt_name", "encoder_name"}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_every_ui_workflow_has_an_api_twin_and_back():
    assert {p.name for p in UI_FILES} == {p.name for p in (ROOT / "example_workflows" / "api").glob("*.json")}
    assert {f"{name}.json" for name in WORKFLOWS} <= {p.name for p in UI_FILES}


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.stem)
def test_api_format_is_the_ui_format_converted(path):
    assert ui_to_api(load(path)) == load(ROOT / "example_workflows" / "api" / path.name)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_faceclip_workflows_are_what_the_builder_writes(name):
    # edit tests/support/workflow_format.py and run it, rather than the JSON by hand
    assert load(ROOT / "example_workflows" / f"{name}.json") == WORKFLOWS[name]().ui()


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.stem)
def test_only_core_and_pack_nodes_and_shipped_inputs(path):
    readme = (ROOT / "README.md").read_text()
    for node in load(ROOT / "example_workflows" / "api" / path.name).values():
        assert node["class_type"] in CORE_NODES or node["class_type"] in PACK_NODES, node["class_type"]
        for name, value in node["inputs"].items():
            if name in MODEL_WIDGETS:
                assert f"`{value}`" in readme, f"{path.name}: {value} is not in README's models table"
        if node["class_type"] == "LoadImage":
            assert (ROOT / "example_workflows" / "input" / node["inputs"]["image"]).is_file()


def test_converter_rejects_a_node_with_missing_widget_values():
    ui = WORKFLOWS["faceclip_portrait"]().ui()
    ui["nodes"][0]["widgets_values"].pop()
    with pytest.raises(ValueError, match=r"node 1 \(UNETLoader\): 1 widget values"):
        ui_to_api(ui)


def _box(node: dict) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) as the frontend draws the node: its title bar sits above its position."""
    (x, y), (w, h) = node["pos"], node["size"]
    return x, y - TITLE_HEIGHT, x + w, y + h


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_no_node_covers_another_and_data_flows_left_to_right(name):
    ui = WORKFLOWS[name]().ui()
    boxes = {node["id"]: _box(node) for node in ui["nodes"]}
    for a in boxes:
        for b in boxes:
            if a < b:
                left, top, right, bottom = boxes[a]
                other = boxes[b]
                assert right <= other[0] or other[2] <= left or bottom <= other[1] or other[3] <= top, (name, a, b)
    for _, source, _, target, *_ in ui["links"]:
        assert boxes[source][2] < boxes[target][0], (name, source, target)  # a link never runs right to left
    for node in ui["nodes"]:
        assert tuple(node["size"]) == NODE_SIZES[node["type"]], node["type"]


def test_screenshots_become_small_jpeg_thumbnails(tmp_path):
    from PIL import Image

    from thumbnails import write_thumbnails

    shots, folder = tmp_path / "shots", tmp_path / "example_workflows"
    shots.mkdir()
    folder.mkdir()
    (folder / "graph.json").write_text("{}")
    Image.new("RGB", (2400, 1350), (40, 40, 40)).save(shots / "graph.png")
    Image.new("RGB", (10, 10)).save(shots / "not_a_template.png")
    (thumbnail,) = write_thumbnails(shots, folder)
    assert thumbnail == folder / "graph.jpg"
    assert Image.open(thumbnail).format == "JPEG" and Image.open(thumbnail).width == 1600


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.stem)
def test_every_template_has_a_small_thumbnail(path):
    # a screenshot of the template in the real frontend (tests/host/test_host_browser.py, tests/support/thumbnails.py)
    thumbnail = path.with_suffix(".jpg")
    assert thumbnail.is_file() and thumbnail.stat().st_size < 200_000


def _readme_models() -> dict[str, dict[str, str]]:
    """README's models table: file name -> {column: cell}."""
    lines = (ROOT / "README.md").read_text().split("## Models", 1)[1].splitlines()
    table = [line for line in lines[: next(i for i, l in enumerate(lines) if l.startswith("The two FaceCLIP"))] if line.startswith("|")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    rows = {}
    for line in table[2:]:
        cells = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
        rows[cells["file"].split("`")[1]] = cells
    return rows


# The host's folder names the frontend's missing-models dialog knows, for README's folders (unet/ is the
# diffusion_models folder's older name; ComfyUI reads both).
HOST_FOLDERS = {"unet/": "diffusion_models", "diffusion_models/": "diffusion_models", "vae/": "vae",
                "faceclip/": "faceclip", "checkpoints/": "checkpoints", "text_encoders/": "text_encoders"}


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.stem)
def test_every_loader_names_its_model_files_for_the_missing_models_dialog(path):
    """Each model-file widget's value has a `properties.models` entry {name, url, directory}: the file, a Hugging
    Face download link and the folder README's models table gives, so the frontend can list what is missing."""
    readme = _readme_models()
    loaders = 0
    for node in load(path)["nodes"]:
        widgets = dict(zip(node_spec(node["type"])["widgets"], node["widgets_values"]))
        files = [value for name, value in widgets.items() if name in MODEL_WIDGETS]
        declared = node["properties"].get("models", [])
        assert [model["name"] for model in declared] == files, (path.name, node["type"])
        for model in declared:
            loaders += 1
            assert set(model) == {"name", "url", "directory"}
            assert model["url"].startswith("https://huggingface.co/") and "/resolve/main/" in model["url"]
            row = readme[model["name"]]
            assert model["directory"] == HOST_FOLDERS[row["folder (under `ComfyUI/models/`)"].strip("`")], model
            # the link is the file README's source column names (renamed ones by their release name)
            assert model["url"].rsplit("/", 1)[1] in row["source"] + model["name"], model
    assert loaders >= 1, f"{path.name}: no loader names its model file"


def test_readme_models_table_gives_every_licence():
    rows = _readme_models()
    assert rows and all(row.get("licence") for row in rows.values()), rows
