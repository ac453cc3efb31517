"""The generic widget checks every node runs against its own schema (nodes/checks.py), without a host; on the real
node declarations: test_node_input_checks.py; through a real host's HTTP API: test_host_fuzz.py."""
from __future__ import annotations

import math

import pytest

from nodes.checks import InputSpec, inputs_problem, shorten, value_problem

DTYPE = InputSpec("dtype", "COMBO", options=("auto", "bf16", "fp16", "fp32"))
STRENGTH = InputSpec("strength", "FLOAT", low=0.0, high=3.0)
WIDTH = InputSpec("width", "INT", low=0, high=16384)
FLAG = InputSpec("one_prompt_per_line", "BOOLEAN")
TEXT = InputSpec("text", "STRING")
FACE = InputSpec("face", "FACE")


@pytest.mark.parametrize("spec, value", [(DTYPE, "fp16"), (STRENGTH, 0), (STRENGTH, 3.0), (WIDTH, 0), (FLAG, False),
                                         (TEXT, ""), (TEXT, "x" * 100_000), (FACE, None), (FACE, "anything")])
def test_values_the_schema_offers_pass(spec, value):
    assert value_problem(spec, value) is None


@pytest.mark.parametrize("spec, value, message", [
    (DTYPE, "no_such_choice.pt", "dtype 'no_such_choice.pt' is not one of its choices (auto, bf16, fp16, fp32): pick one"),
    (DTYPE, None, "dtype None is not one of its choices"),
    (DTYPE, ["fp16"], "dtype ['fp16'] is not one of its choices"),
    (STRENGTH, math.nan, "strength must be a finite number (got nan): set it between 0.0 and 3.0"),
    (STRENGTH, -math.inf, "strength must be a finite number (got -inf)"),
    (STRENGTH, -0.5, "strength must be between 0.0 and 3.0 (got -0.5)"),
    (STRENGTH, "1", "strength must be a number (got str)"),
    (STRENGTH, True, "strength must be a number (got bool)"),
    (WIDTH, 10**300, "width must be between 0 and 16384 (got 10000000000000000000000000000000000000000000000000… "
                     "(301 digits))"),
    (WIDTH, 8.0, "width must be a whole number (got float)"),
    (FLAG, "yes", "one_prompt_per_line must be true or false (got 'yes')"),
    (FLAG, 1, "one_prompt_per_line must be true or false (got 1)"),
    (TEXT, None, "text must be text (got NoneType)"),
], ids=lambda item: shorten(item)[:30] if not isinstance(item, InputSpec) else item.name)
def test_values_the_schema_does_not_offer_are_named_with_the_choices(spec, value, message):
    assert value_problem(spec, value).startswith(message)


def test_a_choice_must_have_the_options_type():
    numbered = InputSpec("index", "COMBO", options=(0, 1))
    assert value_problem(numbered, 1) is None
    assert value_problem(numbered, True) and value_problem(numbered, "1")


def test_an_empty_option_list_says_so():
    assert "offers none here" in value_problem(InputSpec("encoder_name", "COMBO"), "face_t5_encoder.pt")


def test_long_values_and_option_lists_are_cut():
    text = "x" * 100_000 + "\0"
    shown = shorten(text)
    assert len(shown) < 80 and shown.endswith("… (100001 characters)")
    assert shorten("a\0b") == "'a\\x00b'"
    files = InputSpec("encoder_name", "COMBO", options=tuple(f"file{i}.pt" for i in range(30)))
    problem = value_problem(files, text)
    assert "file11.pt, … (30 in all)" in problem and "file12.pt" not in problem and len(problem) < 400


def test_inputs_problem_names_the_node_checks_given_inputs_only_and_runs_the_nodes_rules():
    specs = [DTYPE, STRENGTH, TEXT]
    assert inputs_problem("FaceCLIP Loader", specs, {"dtype": "fp32"}) is None
    assert inputs_problem("FaceCLIP Loader", specs, {"dtype": "fp64", "strength": 1.0}) == (
        "FaceCLIP Loader: dtype 'fp64' is not one of its choices (auto, bf16, fp16, fp32): pick one in the node (a "
        "graph from another version of the pack, or written by hand, can hold a value the node does not offer).")
    rules = {"text": lambda value: "text must not be empty" if not value else None}
    assert inputs_problem("Node", specs, {"text": ""}, rules) == "Node: text must not be empty."
    assert inputs_problem("Node", specs, {"text": 3}, rules) == "Node: text must be text (got int)."  # type first
