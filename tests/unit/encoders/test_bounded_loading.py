"""Architecture read from a file is checked before anything is built: a bad file is one CheckpointError naming
the file and the field, never a machine out of memory or a ZeroDivisionError."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from faceclip_core.encoders.sdxl.checkpoint import CONFIG_METADATA_KEY, read_encoder_state
from faceclip_core.encoders.sdxl.config import tiny_config
from faceclip_core.errors import CheckpointError
from faceclip_core.idea import IDEAConfig, load_idea_weights, save_training_result
from faceclip_core.idea.files import FORMAT
from idea_stand_ins import SDXL_WIDTHS, sdxl_width_result


def _encoder_file(path, change) -> str:
    config = json.loads(tiny_config().to_json())
    change(config)
    save_file({"face_clip_l.logit_scale": torch.zeros(())}, str(path), metadata={CONFIG_METADATA_KEY: json.dumps(config)})
    return str(path)


def _set(branch: str, part: str, key: str, value):
    def change(config):
        config[branch][part][key] = value
    return change


@pytest.mark.parametrize("change, field, problem", [
    (_set("l", "text", "layers", 10**7), "l.text.layers", "is 10000000, outside the allowed 1 to 256"),
    (_set("g", "fusion", "bi_attn_dim", 2**21), "g.fusion.bi_attn_dim", "outside the allowed"),
    (_set("l", "face", "patch_size", 0), "l.face.patch_size", "is 0, outside the allowed"),
    (_set("l", "text", "heads", 7), "l.text.width", "is not a multiple of 'l.text.heads' = 7"),
    (_set("g", "fusion", "bi_attn_heads", 5), "g.fusion.bi_attn_dim", "not a multiple of 'g.fusion.bi_attn_heads'"),
    (_set("l", "face", "patch_size", 100), "l.face.patch_size", "is larger than 'l.face.image_size'"),
    (_set("l", "text", "width", "768"), "l.text.width", "must be a whole number, got '768'"),
    (_set("l", "text", "layers", True), "l.text.layers", "must be a whole number, got True"),
    (_set("l", "text", "mlp_ratio", float("nan")), "l.text.mlp_ratio", "must be a finite number"),
    (_set("l", "text", "activation", "os.system"), "l.text.activation", "not one of quick_gelu, gelu"),
    (_set("l", "text", "evil", 1), "l.text.evil", "is not a field of TextTowerConfig"),
    (lambda c: c.update(l=[1, 2]), "l", "must be a table of fields"),
])
def test_encoder_metadata_is_checked_before_building(tmp_path, change, field, problem):
    path = _encoder_file(tmp_path / "bad.safetensors", change)
    with pytest.raises(CheckpointError) as caught:
        read_encoder_state(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: states an architecture that cannot be built")
    assert f"field '{field}' " in message and problem in message


def test_encoder_metadata_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "bad.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={CONFIG_METADATA_KEY: "{not json"})
    with pytest.raises(CheckpointError, match=f"{path}: states an architecture .*faceclip_config"):
        read_encoder_state(path)


def test_a_folder_given_as_weights_is_called_a_folder(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder, not a weights file. Give the path of the encoder file inside it"):
        read_encoder_state(tmp_path)


def test_a_unet_given_as_the_encoder_is_told_one_thing(tmp_path):
    path = tmp_path / "unet.safetensors"
    save_file({"down_blocks.0.conv.weight": torch.zeros(1), "mid_block.conv.weight": torch.zeros(1)}, str(path))
    with pytest.raises(CheckpointError) as caught:
        read_encoder_state(path)
    message = str(caught.value)
    assert "it belongs in models/unet" in message and "Give the FaceCLIP encoder" in message
    assert "in this folder instead" not in message


def _idea_file(tmp_path, config_change=None, tensor_change=None):
    result, _ = sdxl_width_result()
    _, path = save_training_result(result, SDXL_WIDTHS, tmp_path, "jane", "abc")
    if config_change or tensor_change:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            tensors, metadata = {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
        config = json.loads(metadata["config"])
        (config_change or (lambda c: None))(config)
        (tensor_change or (lambda t: None))(tensors)
        save_file(tensors, str(path), metadata={**metadata, "config": json.dumps(config)})
    return path


@pytest.mark.parametrize("change, problem", [
    (lambda c: c.update(inner_dim=2**21), "'inner_dim' is 2097152, outside the allowed 1 to 16384"),
    (lambda c: c.update(num_tokens=10**6), "'num_tokens' is 1000000, outside"),
    (lambda c: c.update(heads=7), "'inner_dim' = 32 is not a multiple of 'heads' = 7"),
    (lambda c: c.update(heads=0), "'heads' is 0, outside"),
    (lambda c: c.update(gate_scale=float("inf")), "'gate_scale' must be a finite number"),
    (lambda c: c.update(exec="print(1)"), "'exec' is not a field of IDEAConfig"),
])
def test_idea_metadata_is_checked_before_building(tmp_path, change, problem):
    path = _idea_file(tmp_path, config_change=change)
    with pytest.raises(CheckpointError, match=f"{path}: its 'config' metadata cannot be built") as caught:
        load_idea_weights(path)
    assert problem in str(caught.value)


@pytest.mark.parametrize("change, problem", [
    (lambda t: t.pop("face"), "tensor 'face' is missing or unexpected"),
    (lambda t: t.update(extra=torch.zeros(1)), "tensor 'extra' is missing or unexpected"),
    (lambda t: t.update(face=torch.zeros(7)), r"tensor 'face' has shape \(7,\), its config says \(512,\)"),
    (lambda t: t.update(anchors=torch.zeros(3, 5)), r"tensor 'anchors' has shape \(3, 5\), its config says \('N', 2048\)"),
])
def test_idea_tensors_must_agree_with_the_config(tmp_path, change, problem):
    path = _idea_file(tmp_path, tensor_change=change)
    with pytest.raises(CheckpointError, match=f"{path}: {problem}"):
        load_idea_weights(path)


def test_an_unchanged_idea_file_still_loads(tmp_path):
    assert load_idea_weights(_idea_file(tmp_path)).config == SDXL_WIDTHS
    assert IDEAConfig.from_json(SDXL_WIDTHS.to_json()) == SDXL_WIDTHS and FORMAT == "id-ea/1"


def test_a_truncated_idea_state_says_to_delete_it(tmp_path):
    from faceclip_core.idea import TrainConfig
    from idea_stand_ins import make_trainer

    settings = TrainConfig(steps=1, batch_size=2, micro_batch=2, resolution=32)
    state = tmp_path / "jane.state.pt"
    make_trainer(settings)[0].run(state)
    state.write_bytes(state.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=f"{state}: cannot be read as a training state: it is truncated or damaged "
                                              f".*Delete {state} to start the training over"):
        make_trainer(settings)[0].run(state)
    torch.save({"identity": {}, "step": "three"}, state)
    with pytest.raises(CheckpointError, match=f"field 'step' of the training state is a str. Delete {state}"):
        make_trainer(settings)[0].run(state)


def test_a_damaged_training_checkpoint_is_named(tmp_path):
    from faceclip_core.train import training_state

    folder = tmp_path / "step-0000010"
    folder.mkdir()
    (folder / training_state.STATE_FILE).write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(CheckpointError, match=f"{folder / training_state.STATE_FILE}: cannot be read as a training state.*Delete {folder}"):
        training_state.load_state(folder, "ddp")
    torch.save({"step": 10, "scheduler": {}, "position": {}, "weights": {}}, folder / training_state.STATE_FILE)
    with pytest.raises(CheckpointError, match="field 'optimizer' of the training state is missing"):
        training_state.load_state(folder, "ddp")
    (folder / "rng-0.pt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(CheckpointError, match="rng-0.pt: cannot be read as a training state"):
        training_state.load_rng(folder, 0)


@pytest.mark.parametrize("strength", [float("nan"), float("inf"), "1"])
def test_a_non_finite_strength_is_refused(tmp_path, strength):
    from faceclip_core.errors import UsageError

    with pytest.raises(UsageError, match="strength must be a finite number"):
        load_idea_weights(_idea_file(tmp_path)).apply(torch.randn(1, 77, 2048), strength)
