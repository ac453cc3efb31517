"""Hostile graphs through a real ComfyUI's HTTP API: every input of every pack node in every template that does not
train, changed one at a time (tests/host/fuzz.py says to what), at CPU size on the tiny models; ID-EA's nodes on a
tiny identity written by the real ID-EA writer.

For each case the host must refuse the graph at validation, or the run must end in the node's own error with a
message, or it runs (a value the node may take: an empty prompt, a dropped optional face); a choice the schema does
not offer or a number it does not allow never runs. The server stays up, and nothing is written outside the host's
folders. Prints counts per outcome. Skips without COMFYUI_PATH (see tests/host/setup_test_host.sh).
"""
from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import pytest

from faceclip_core.idea import save_training_result
from host.fixtures import comfy_path, comfy_server, copy_workflow_inputs  # noqa: F401  (fixtures)
from host.fuzz import ESCAPE_MARKER, Tally, cases_of, files_outside, judge, server_is_up
from host.graphs import API_WORKFLOWS, api_workflow, quick
from host.server import PACK_DIR, PACK_NAME, ComfyServer
from idea_stand_ins import SDXL_WIDTHS, sdxl_width_result

TRAINING_NODES = {"IDEATrain"}  # a template with one of these trains: its cases would each train for minutes
TEMPLATES = sorted(path.stem for path in API_WORKFLOWS.glob("*.json")
                   if not any(node["class_type"] in TRAINING_NODES for node in api_workflow(path.stem).values()))
IDENTITY = "my_person"  # the name idea_apply's graph loads


@pytest.fixture(scope="module")
def server(comfy_server: ComfyServer) -> ComfyServer:
    copy_workflow_inputs(comfy_server)
    result, _ = sdxl_width_result()  # an identity at SDXL's widths, as ID-EA Train writes it
    save_training_result(result, SDXL_WIDTHS, comfy_server.models_dir / "embeddings", IDENTITY, "fuzz")
    return comfy_server


@pytest.fixture(scope="module")
def pack_nodes(server: ComfyServer) -> set[str]:
    return {name for name, info in server.object_info().items() if info.get("python_module", "").endswith(PACK_NAME)}


@pytest.fixture(scope="module")
def tally() -> Tally:
    return Tally()


@pytest.fixture(scope="module")
def outside_before(server: ComfyServer, comfy_path: Path) -> tuple[list[Path], set[Path]]:
    roots = [server.base_dir.parent, comfy_path, PACK_DIR]
    return roots, files_outside(server.base_dir, roots)


def test_the_templates_run_and_the_pack_prints_no_warning(server: ComfyServer, pack_nodes: set[str], outside_before) -> None:
    assert {"FaceCLIPLoader", "FaceT5Loader", "IDEAApply"} <= pack_nodes
    assert TEMPLATES and "idea_train" not in TEMPLATES
    for template in TEMPLATES:
        result = server.run(quick(api_workflow(template)), timeout_s=600)
        assert (result.status, result.error) == ("success", ""), template
    pack_warnings = [line for line in server.log_text().splitlines()
                     if re.search(r"\w*Warning\b", line) and any(s in line for s in (PACK_NAME, str(PACK_DIR), "faceclip_core"))]
    assert not pack_warnings


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_input_is_refused_or_the_nodes_own_error(server: ComfyServer, pack_nodes: set[str], tally: Tally,
                                                        outside_before, template: str) -> None:
    started = time.monotonic()
    cases = cases_of(template, quick(api_workflow(template)), server.object_info(), pack_nodes)
    for case in cases:
        outcome, problem = judge(case, server.run(case.graph, timeout_s=600), pack_nodes)
        if not server_is_up(server):
            problem = "the server went down"
        tally.add(case, outcome, problem)
        if problem == "the server went down":
            break
    tally.seconds += time.monotonic() - started
    assert len(cases) > 10
    defects = [d for d in tally.defects if d.startswith(f"{template} ")]
    assert not defects, f"{len(defects)} of {len(cases)} cases:\n" + "\n".join(defects[:30])


def test_nothing_was_written_outside_the_hosts_folders(server: ComfyServer, outside_before, tally: Tally,
                                                       capsys: pytest.CaptureFixture) -> None:
    with capsys.disabled():  # the summary is for whoever runs it, passed or not
        print("\nhost fuzz, outcomes per template:\n" + tally.summary())
    roots, before = outside_before
    assert files_outside(server.base_dir, roots) - before == set()
    assert not (Path(tempfile.gettempdir()) / ESCAPE_MARKER).exists()
