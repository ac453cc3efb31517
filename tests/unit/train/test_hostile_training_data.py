"""Training data and configs given hostile or broken input: `pipe:` shards never run without the opt-in and
never through a shell, malformed index.json and shards named, impossible values refused, and `prepare` that
keeps nothing exits 3 with the reasons (a decompression bomb skipped like any bad photo)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from faceclip_core.errors import UsageError
from faceclip_core.train.config import Stage1Config, Stage2Config, from_dict
from faceclip_core.train.shards import ShardWriter, iter_samples, read_index
from hostile_files import decompression_bomb_png
from tiny_training import photo

ROOT = Path(__file__).resolve().parents[3]


def train_cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests" / "support")}  # --analyzer tiny_training:StandInAnalyzer
    result = subprocess.run([sys.executable, "-m", "faceclip_core.train", *map(str, args)], cwd=ROOT, capture_output=True,
                            text=True, env=env, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _dataset(folder: Path, entries: list) -> Path:
    folder.mkdir(parents=True)
    (folder / "index.json").write_text(json.dumps({"format": "webdataset", "shards": entries}))
    return folder


def _one_shard(folder: Path) -> Path:
    writer = ShardWriter(folder, shard_size=4)
    writer.write("s0", {"txt": b"a caption"})
    writer.close()
    return folder / "shard-000000.tar"


def test_a_pipe_entry_is_refused_without_the_opt_in_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    data = _dataset(tmp_path / "train", [{"path": f"pipe:touch {marker}", "samples": 1}])
    config = tmp_path / "run.toml"
    config.write_text(f'[run]\nout = "{tmp_path / "run"}"\n[data]\ntrain = "{data}"\n')
    result = train_cli("stage1", "--config", config)
    assert result.returncode == 2
    assert f"index.json, shard entry 0 is a command ('pipe:touch {marker}')" in result.stderr
    assert "allow_pipe = true" in result.stderr
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_with_the_opt_in_a_pipe_runs_as_an_argument_list_not_a_shell(tmp_path):
    shard = _one_shard(tmp_path / "real")
    data = _dataset(tmp_path / "train", [{"path": f"pipe:cat {shard}", "samples": 1}])
    [info] = read_index(data, allow_pipe=True)
    assert [key for key, _ in iter_samples(info.url)] == ["s0"]
    marker = tmp_path / "ran"
    with pytest.raises(UsageError, match="is not a readable tar file"):
        list(iter_samples(f"pipe:cat {shard}; touch {marker}"))  # cat is given ';' 'touch' as file names
    assert not marker.exists()
    with pytest.raises(UsageError, match="Cannot open the shard pipe:no-such-program"):
        list(iter_samples("pipe:no-such-program x"))


@pytest.mark.parametrize("index, problem", [
    ("{not json", "is not a readable JSON file"),
    ('{"shards": 3}', "has no 'shards' list"),
    ('{"shards": [{"samples": 2}]}', "shard entry 0 needs a 'path'"),
    ('{"shards": [{"path": "a.tar", "samples": "2"}]}', "shard entry 0 (a.tar) needs 'samples', a whole number"),
    ('{"shards": [{"path": "a.tar", "samples": -1}]}', "needs 'samples', a whole number >= 0, got -1"),
])
def test_a_malformed_index_names_the_file_and_the_entry(tmp_path, index, problem):
    (tmp_path / "index.json").write_text(index)
    with pytest.raises(UsageError, match="index.json") as caught:
        read_index(tmp_path)
    assert problem in str(caught.value)


def test_a_truncated_shard_names_the_shard(tmp_path):
    shard = _one_shard(tmp_path)
    shard.write_bytes(shard.read_bytes()[:700])
    with pytest.raises(UsageError, match=f"The shard {shard} is not a readable tar file.*Prepare the dataset again"):
        list(iter_samples(str(shard)))


@pytest.mark.parametrize("section, key, value, message", [
    ("run", "steps", 0, "'run.steps' = 0 must be at least 1"),
    ("run", "steps", -5, "'run.steps' = -5 must be at least 1"),
    ("run", "batch_size", 0, "'run.batch_size' = 0 must be at least 1"),
    ("data", "streams", 0, "'data.streams' = 0 must be at least 1"),
    ("optim", "lr", 0.0, "'optim.lr' = 0.0 must be above 0.0"),
    ("optim", "lr", float("nan"), "'optim.lr' = nan is not a finite number"),
    ("optim", "betas", [0.9, 1.5], "'optim.betas' = 1.5 must be at least 0.0 and at most 0.9999"),
    ("optim", "betas", [0.9], "'optim.betas' must be a list of 2 values"),
    ("run", "save_every", 0, "'run.save_every' = 0 must be at least 1"),
])
def test_values_a_run_cannot_train_with_are_refused(section, key, value, message):
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        from_dict(Stage1Config, {section: {key: value}})


def test_stage2_values_are_checked_too():
    with pytest.raises(UsageError, match=r"'train.cond_dropout' = 1.5 must be at least 0.0 and at most 1.0"):
        from_dict(Stage2Config, {"train": {"cond_dropout": 1.5}})
    assert from_dict(Stage2Config, {}).data.allow_pipe is False


def test_stage1_with_zero_steps_exits_2_before_training(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[run]\nsteps = 0\n')
    result = train_cli("stage1", "--config", config)
    assert result.returncode == 2 and "'run.steps' = 0 must be at least 1" in result.stderr


def test_prepare_that_keeps_nothing_exits_3_with_the_reasons(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "bomb.png").write_bytes(decompression_bomb_png())
    photo(0, 0, faces=0).save(photos / "empty.png")
    for name in ("bomb", "empty"):
        (photos / f"{name}.txt").write_text("a portrait")
    result = train_cli("prepare", "--images", photos, "--out", tmp_path / "data", "--min-image-side", "32",
                       "--analyzer", "tiny_training:StandInAnalyzer")
    assert result.returncode == 3, result.stderr
    assert "prepare kept none of the 2 photos" in result.stderr and "1 unreadable" in result.stderr and "1 no face" in result.stderr
    skipped = [json.loads(line) for line in (tmp_path / "data" / "skipped.jsonl").read_text().splitlines()]
    bomb = next(row for row in skipped if row["file"].endswith("bomb.png"))
    assert bomb["reason"] == "unreadable" and "decompression bomb" in bomb["detail"]
    assert json.loads((tmp_path / "data" / "report.json").read_text())["kept"] == {}


@pytest.mark.parametrize("setting, value, message", [
    ("micro_batch", 0, "micro_batch must be a whole number of at least 1, got 0"),
    ("batch_size", -2, "batch_size must be a whole number of at least 1, got -2"),
    ("lr_per_sample", float("nan"), "lr_per_sample must be a finite number >= 0, got nan"),
    ("resolution", 30, "resolution must be a multiple of 8"),
])
def test_id_ea_training_settings_are_checked(setting, value, message):
    from faceclip_core.idea import TrainConfig

    with pytest.raises(UsageError, match=message):
        TrainConfig(**{setting: value, **({"micro_batch": 1} if setting == "batch_size" else {})})
