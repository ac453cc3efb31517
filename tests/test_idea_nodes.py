"""ID-EA node declarations and host glue that runs without a host (the real host path is the harness's)."""
from __future__ import annotations

import torch

from nodes.idea_nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, IDEAApply, frozen_for_autograd, inject_rows
from test_idea_files_and_errors import SDXL_WIDTHS, sdxl_width_result

from faceclip_core.idea import load_idea_weights, save_training_result


def test_every_node_is_declared_and_named():
    assert set(NODE_CLASS_MAPPINGS) == set(NODE_DISPLAY_NAME_MAPPINGS)
    for node in NODE_CLASS_MAPPINGS.values():
        assert callable(getattr(node, node.FUNCTION)) and node.CATEGORY and node.DESCRIPTION


def test_inject_rows_replaces_each_stand_in_in_order_and_keeps_length():
    rows = torch.randn(2, 4)
    chunks = [[(49406, 1.0), (7, 1.0), (9, 1.0), (7, 1.0), (49407, 1.0)]]
    out = inject_rows(chunks, 7, rows)
    assert len(out[0]) == 5 and out[0][2] == (9, 1.0)
    assert torch.equal(out[0][1][0], rows[0]) and torch.equal(out[0][3][0], rows[1])


def test_frozen_for_autograd_lets_a_model_built_in_inference_mode_pass_gradients_to_its_input():
    with torch.inference_mode():  # as the host builds MODEL and CLIP
        model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 4))
        model[2].weight = model[0].weight  # tied
        model.register_buffer("scale", torch.full((4,), 2.0))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    frozen_for_autograd(model)

    x = torch.randn(3, 4, requires_grad=True)
    (model(x) * model.scale).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())
    assert model[2].weight is model[0].weight
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_apply_keeps_the_conditioning_format(tmp_path):
    result, _ = sdxl_width_result()
    with torch.no_grad():
        result.adapter.gamma.fill_(1.0)
    _, weights_path = save_training_result(result, SDXL_WIDTHS, tmp_path, "jane", "abc")
    options = {"pooled_output": torch.randn(1, 1280), "width": 1024}
    conditioning = [[torch.randn(1, 77, 2048), options]]
    (adapted,) = IDEAApply().apply(conditioning, load_idea_weights(weights_path), 0.8)
    assert len(adapted) == 1 and adapted[0][0].shape == (1, 77, 2048)
    assert adapted[0][1] == options and adapted[0][1] is not options
    assert not torch.equal(adapted[0][0], conditioning[0][0][0:1])


def test_api_workflows_give_our_nodes_exactly_their_inputs():
    import json
    from pathlib import Path

    for path in Path(__file__).parents[1].glob("example_workflows/api/idea_*.json"):
        for node in json.loads(path.read_text()).values():
            if node["class_type"] in ("IDEATrain", "IDEAApply"):
                declared = NODE_CLASS_MAPPINGS[node["class_type"]].INPUT_TYPES()
                assert set(node["inputs"]) == {*declared["required"], *declared.get("optional", {})}, (path.name, node["class_type"])
