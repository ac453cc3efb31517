"""ID-EA host glue that runs without a host (declarations: test_node_schemas.py; the real host path: test_host_idea.py)."""
from __future__ import annotations

import torch

from nodes.idea_logic import apply_idea, frozen_for_autograd, inject_rows, training_settings
from workflow_format import PACK_NODES
from idea_stand_ins import SDXL_WIDTHS, sdxl_width_result

from faceclip_core.idea import load_idea_weights, save_training_result


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
    adapted = apply_idea(conditioning, load_idea_weights(weights_path), 0.8)
    assert len(adapted) == 1 and adapted[0][0].shape == (1, 77, 2048)
    assert adapted[0][1] == options and adapted[0][1] is not options
    assert not torch.equal(adapted[0][0], conditioning[0][0][0:1])


def test_api_workflows_give_our_nodes_exactly_their_inputs():
    import json
    from pathlib import Path

    for path in Path(__file__).parents[3].glob("example_workflows/api/idea_*.json"):
        for node in json.loads(path.read_text()).values():
            if node["class_type"] in ("IDEATrain", "IDEAApply"):
                spec = PACK_NODES[node["class_type"]]
                declared = {name for name, _ in spec["inputs"]} | set(spec["widgets"]) - {"control_after_generate"}
                assert set(node["inputs"]) == declared, (path.name, node["class_type"])


def test_training_settings_cut_the_batch_to_a_multiple_of_the_micro_batch():
    settings = training_settings(steps=3, batch_size=7, micro_batch=2, resolution=64, seed=5)
    assert (settings.steps, settings.batch_size, settings.micro_batch, settings.resolution, settings.seed) == (3, 6, 2, 64, 5)
    assert training_settings(1, 2, 4, 64, 0).micro_batch == 2
