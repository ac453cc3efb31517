"""Hostile values for the pack's nodes in API-format graphs, and how a real host's answer to each is judged.

A case changes one input of one pack node in a graph: a literal input gets a value from HOSTILE_VALUES, a link is
dropped or rewired to an output of the wrong type. What the node declares (combo options, min/max) is read from the
host's /object_info, so new inputs and new choices are fuzzed without edits here.

In a case's graph the template's output nodes are replaced by one PreviewAny of the changed node's first output: what
the node does with the value is all a case asks, so a value it takes costs one run of that node, not of the sampler
after it (the templates as a whole: the test's first run). The other nodes stay in the graph, unchanged, so the host
keeps their outputs (the loaded models) from prompt to prompt.
"""
from __future__ import annotations

import copy
import math
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.server import ComfyServer, RunResult

PACK_ERROR_MODULE = "faceclip_core."  # the pack's own errors (faceclip_core.errors): a message naming cause and fix
ESCAPE_MARKER = "faceclip_fuzz_escape"
# However many folders deep a pack joins it, this lands in the system temp folder, outside every ComfyUI folder.
PATH_TRAVERSAL = "../" * 24 + f"{tempfile.gettempdir().strip('/')}/{ESCAPE_MARKER}/x"

HOSTILE_VALUES: list[tuple[str, Any]] = [
    ("unknown choice", "no_such_choice.pt"),
    ("non-boolean", "yes"),
    ("NaN", math.nan),
    ("inf", math.inf),
    ("-inf", -math.inf),
    ("huge", 10**30),
    ("negative", -1),
    ("wrong JSON type: object", {"x": 1}),
    ("wrong JSON type: list", [1, 2, 3]),
    ("wrong JSON type: boolean", True),
    ("wrong JSON type: number", 7.5),
    ("null", None),
    ("empty", ""),
    ("100 000 characters", "x" * 100_000),
    ("NUL", "a\0b"),
    ("path traversal", PATH_TRAVERSAL),
]

# Outcomes. Anything else (a raw exception, another node failing on what the node let through, a hang) is a defect.
REFUSED = "refused at validation"
NODE_ERROR = "the node's own error"
RAN = "ran"


@dataclass
class Case:
    template: str
    node_id: str
    class_type: str
    input_name: str
    label: str  # which hostile value, or "link dropped" / "link of the wrong type"
    graph: dict[str, Any]
    must_not_run: bool  # a choice the schema does not offer, a number it does not allow

    @property
    def name(self) -> str:
        return f"{self.template} #{self.node_id} {self.class_type}.{self.input_name}: {self.label}"


@dataclass
class Tally:
    """Outcomes per template, the defects found, and the time it all took."""

    counts: dict[str, Counter] = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, case: Case, outcome: str | None, problem: str | None) -> None:
        self.counts.setdefault(case.template, Counter())[outcome or "defect"] += 1
        if problem:
            self.defects.append(f"{case.name}: {problem}")

    def summary(self) -> str:
        outcomes = [REFUSED, NODE_ERROR, RAN, "defect"]
        width = max(map(len, self.counts), default=8)
        lines = [f"{'template':<{width}}  " + "  ".join(f"{o:>21}" for o in outcomes) + f"  {'cases':>6}"]
        total = Counter()
        for template, counts in self.counts.items():
            total.update(counts)
            lines.append(f"{template:<{width}}  " + "  ".join(f"{counts[o]:>21}" for o in outcomes)
                         + f"  {sum(counts.values()):>6}")
        lines.append(f"{'all':<{width}}  " + "  ".join(f"{total[o]:>21}" for o in outcomes) + f"  {sum(total.values()):>6}")
        return "\n".join(lines) + f"\n{sum(total.values())} cases in {self.seconds:.0f} s"


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def declared_inputs(info: dict[str, Any]) -> dict[str, tuple[Any, dict]]:
    """/object_info's inputs of one node: name -> (type, options); a V1 combo's type is its option list."""
    inputs = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
    return {name: (spec[0], spec[1] if len(spec) > 1 else {}) for name, spec in inputs.items()}


def _choices(kind: Any, options: dict) -> list | None:
    if isinstance(kind, list):
        return kind
    return options.get("options") if kind == "COMBO" else None


def must_not_run(kind: Any, options: dict, value: Any) -> bool:
    """A value the schema does not offer and that the host does not coerce into one it does: an unknown choice, a
    number that is not finite or out of bounds. (Booleans, which the host turns into bool(value), are exempt.)"""
    choices = _choices(kind, options)
    if choices is not None:
        return not any(type(value) is type(choice) and value == choice for choice in choices)
    if kind in ("INT", "FLOAT") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return not math.isfinite(value) or value < options.get("min", -math.inf) or value > options.get("max", math.inf)
    return False


def observing(graph: dict[str, Any], node_id: str, output_nodes: set[str]) -> dict[str, Any]:
    """`graph` whose only output node is a PreviewAny (it shows anything) of `node_id`'s output 0."""
    observed = {key: node for key, node in graph.items() if node["class_type"] not in output_nodes}
    observed["fuzz_output"] = {"class_type": "PreviewAny", "inputs": {"source": [node_id, 0]}}
    return observed


def _wrong_type_source(graph: dict[str, Any], object_info: dict[str, Any], expected: Any) -> list | None:
    """A link to the output of a node that takes no links (so no cycle can form) whose type is not `expected`."""
    for node_id, node in graph.items():
        if any(is_link(v) for v in node["inputs"].values()):
            continue
        for slot, kind in enumerate(object_info[node["class_type"]]["output"]):
            if kind != expected and kind != "*" and expected != "*":
                return [node_id, slot]
    return None


def cases_of(template: str, graph: dict[str, Any], object_info: dict[str, Any], pack_nodes: set[str]) -> list[Case]:
    """Every hostile change of every input of every pack node in `graph`, one change per case."""
    output_nodes = {name for name, info in object_info.items() if info.get("output_node")}
    cases = []
    for node_id, node in graph.items():
        if node["class_type"] not in pack_nodes:
            continue
        declared = declared_inputs(object_info[node["class_type"]])
        for input_name, original in node["inputs"].items():
            kind, options = declared[input_name]

            def changed(value: Any = None, drop: bool = False) -> dict[str, Any]:
                new = copy.deepcopy(graph)
                if drop:
                    del new[node_id]["inputs"][input_name]
                else:
                    new[node_id]["inputs"][input_name] = value
                return observing(new, node_id, output_nodes)

            def case(label: str, new_graph: dict[str, Any], forbidden: bool = False) -> Case:
                return Case(template, node_id, node["class_type"], input_name, label, new_graph, forbidden)

            if is_link(original):
                cases.append(case("link dropped", changed(drop=True)))
                source = _wrong_type_source(graph, object_info, kind)
                if source is not None:
                    cases.append(case("link of the wrong type", changed(source)))
                continue
            cases += [case(label, changed(value), must_not_run(kind, options, value)) for label, value in HOSTILE_VALUES]
    return cases


def judge(case: Case, result: RunResult, pack_nodes: set[str]) -> tuple[str | None, str | None]:
    """(outcome, defect): the defect says what is wrong, None when the host's answer is one the issue allows."""
    if result.status == "rejected":
        return (REFUSED, None) if result.error.strip() else (None, "refused without a message")
    if result.status == "execution_error":
        own = result.node_type in pack_nodes and result.exception_type.startswith(PACK_ERROR_MODULE)
        if own and result.error.strip():
            return NODE_ERROR, None
        return None, f"{result.node_type} raised {result.exception_type or 'an error'}: {result.error[:300]}"
    if result.status == "success":
        return (None, "ran silently with a value the schema does not offer") if case.must_not_run else (RAN, None)
    return None, f"ended as {result.status}"


def server_is_up(server: ComfyServer) -> bool:
    try:
        server.get_json("/queue")
        return True
    except OSError:
        return False


def files_outside(base_dir: Path, roots: list[Path]) -> set[Path]:
    """Files under `roots` outside the host's base folder, and anything named after ESCAPE_MARKER anywhere there."""
    found = set()
    for root in roots:
        for path in root.rglob("*"):
            if base_dir in path.parents or path == base_dir:
                continue
            if path.is_file() or ESCAPE_MARKER in path.name:
                found.add(path)
    return found
