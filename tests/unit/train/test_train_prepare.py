"""Data preparation: filters with counted skip reasons, shard contents, identity split, manifest, empty datasets."""
from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from faceclip_core.errors import UsageError
from faceclip_core.train.prepare import NothingKept, PrepareOptions, prepare
from faceclip_core.train.shards import iter_samples, read_index
from tiny_training import StandInAnalyzer, photo, write_photo_folder

OPTIONS = PrepareOptions(min_score=0.5, min_face=64, min_image_side=48, shard_size=2)


def add(folder, name, image, caption="a portrait"):
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(image, bytes):
        (folder / name).write_bytes(image)
    else:
        image.save(folder / name)
    if caption is not None:
        (folder / name).with_suffix(".txt").write_text(caption)


def test_filters_count_every_skip_reason(tmp_path):
    photos = tmp_path / "photos"
    add(photos, "good1.png", photo(0, 0))
    add(photos, "good2.png", photo(1, 0), caption="a woman in a garden")
    add(photos, "uncaptioned.png", photo(2, 0), caption=None)
    add(photos, "broken.jpg", b"this is not a JPEG")
    add(photos, "small.png", photo(3, 0, size=40))
    add(photos, "empty.png", photo(4, 0, faces=0))
    add(photos, "crowd.png", photo(5, 0, faces=2))
    add(photos, "unsure.png", photo(6, 0, score=0.3))
    add(photos, "far.png", photo(7, 0, face_side=40))
    report = prepare(photos, tmp_path / "data", StandInAnalyzer(), OPTIONS)
    assert report["images"] == 9 and report["kept"] == {"train": 2}
    assert report["skipped"] == {"no caption": 1, "unreadable": 1, "image too small": 1, "no face": 1,
                                 "several faces": 1, "low detection score": 1, "face too small": 1}
    log = [json.loads(line) for line in (tmp_path / "data" / "skipped.jsonl").read_text().splitlines()]
    assert {(r["file"].rsplit("/", 1)[-1], r["reason"]) for r in log} >= {("far.png", "face too small"), ("broken.jpg", "unreadable")}
    assert json.loads((tmp_path / "data" / "report.json").read_text()) == report

    shards = read_index(tmp_path / "data" / "train")
    samples = [s for shard in shards for _, s in iter_samples(shard.url)]
    assert len(samples) == 2
    for sample in samples:
        assert set(sample) == {"jpg", "crop.png", "txt", "json", "emb.npy"}
        assert Image.open(io.BytesIO(sample["crop.png"])).size == (448, 448)
        assert np.load(io.BytesIO(sample["emb.npy"])).shape == (512,)
        meta = json.loads(sample["json"])
        assert meta["size"] == [64, 64] and meta["score"] == pytest.approx(0.9)
    assert {s["txt"].decode() for s in samples} == {"a portrait", "a woman in a garden"}


def test_identities_from_folders_and_held_out_split(tmp_path):
    write_photo_folder(tmp_path / "photos", identities=4, per_identity=3)
    options = PrepareOptions(min_face=64, min_image_side=32, shard_size=2, val_identities=1, identity_from_folder=True)
    report = prepare(tmp_path / "photos", tmp_path / "data", StandInAnalyzer(), options)
    assert report["kept"] == {"train": 9, "val": 3} and report["shards"] == {"train": 5, "val": 2}
    identities = {}
    for split in ("train", "val"):
        shards = read_index(tmp_path / "data" / split)
        assert [s.samples for s in shards] == ([2, 2, 2, 2, 1] if split == "train" else [2, 1])
        identities[split] = {json.loads(s["json"])["identity"] for shard in shards for _, s in iter_samples(shard.url)}
    assert identities["val"] == set(report["val_identities"]) and not identities["val"] & identities["train"]
    # shards are plain tars in the WebDataset layout: key.ext members, grouped by key
    with tarfile.open(tmp_path / "data" / "train" / "shard-000000.tar") as tar:
        names = tar.getnames()
    assert len(names) == 10 and names[0].endswith(".jpg") and names[0].split(".")[0] == names[4].split(".")[0]


def test_manifest_captions_and_identities(tmp_path):
    photos = tmp_path / "photos"
    add(photos, "a.png", photo(0, 0), caption=None)
    add(photos, "b.png", photo(0, 1), caption=None)
    manifest = tmp_path / "captions.jsonl"
    manifest.write_text('{"file": "a.png", "caption": "first", "identity": 17}\n{"file": "b.png", "caption": "second", "identity": 17}\n')
    prepare(photos, tmp_path / "data", StandInAnalyzer(), OPTIONS, manifest=manifest)
    samples = [s for shard in read_index(tmp_path / "data" / "train") for _, s in iter_samples(shard.url)]
    assert sorted(s["txt"].decode() for s in samples) == ["first", "second"]
    assert {json.loads(s["json"])["identity"] for s in samples} == {"17"}
    with pytest.raises(UsageError, match="line 1 is not a JSON object"):
        manifest.write_text("not json\n")
        prepare(photos, tmp_path / "data2", StandInAnalyzer(), OPTIONS, manifest=manifest)


def test_empty_and_missing_datasets_say_what_to_do(tmp_path):
    add(tmp_path / "photos", "empty.png", photo(0, 0, faces=0))
    with pytest.raises(NothingKept, match=r"kept none of the 1 photos .*\(1 no face\).*skipped.jsonl") as caught:
        prepare(tmp_path / "photos", tmp_path / "data", StandInAnalyzer(), OPTIONS)
    assert caught.value.exit_code == 3
    with pytest.raises(UsageError, match=r"is empty \(0 samples\).*skipped.jsonl"):
        read_index(tmp_path / "data" / "train")
    with pytest.raises(UsageError, match="not a prepared dataset.*prepare --images"):
        read_index(tmp_path / "nowhere")
    with pytest.raises(UsageError, match="No images found"):
        prepare(tmp_path / "data" / "train", tmp_path / "out", StandInAnalyzer(), OPTIONS)


def test_command_line(tmp_path, capsys):
    from faceclip_core.train.__main__ import main

    write_photo_folder(tmp_path / "photos", identities=2, per_identity=2)
    args = ["prepare", "--images", str(tmp_path / "photos"), "--out", str(tmp_path / "data"), "--min-face", "64",
            "--min-image-side", "32", "--identity-from-folder"]
    assert main(args + ["--analyzer", "tiny_training:StandInAnalyzer"]) == 0
    assert "kept {'train': 4}" in capsys.readouterr().out
    assert main(args + ["--analyzer", "no_such_module:Analyzer"]) == 2
    assert "Cannot build the face analyser 'no_such_module:Analyzer'" in capsys.readouterr().err
    assert main(args) == 2
    assert "give --models-dir" in capsys.readouterr().err
    (tmp_path / "run.toml").write_text("[optim]\nlearning_rate = 1e-4\n")
    assert main(["stage1", "--config", str(tmp_path / "run.toml")]) == 2
    assert "Unknown config key 'optim.learning_rate'" in capsys.readouterr().err


def test_real_detector_on_the_test_photos(tmp_path, face_models_dir, photos):
    """The pack's FaceAnalyzer (real RetinaFace detector, stand-in recogniser) fits the FaceAnalyzer protocol."""
    from PIL import Image as PILImage

    import assets

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut", "grace_hopper", "coffee", "pair"):
        PILImage.fromarray(photos[name]).save(folder / f"{name}.jpg")
        (folder / f"{name}.jpg").with_suffix(".txt").write_text(f"a photo of {name}")
    PILImage.fromarray(assets.resized(photos["astronaut"], 0.4)).save(folder / "small.png")
    (folder / "small.txt").write_text("a small photo")
    from faceclip_core.train.__main__ import main

    assert main(["prepare", "--images", str(folder), "--out", str(tmp_path / "data"), "--models-dir", str(face_models_dir),
                 "--providers", "cpu", "--min-face", "64", "--min-image-side", "256"]) == 0
    report = json.loads((tmp_path / "data" / "report.json").read_text())
    assert report["kept"] == {"train": 2}
    assert report["skipped"] == {"no face": 1, "several faces": 1, "image too small": 1}
    samples = [s for shard in read_index(tmp_path / "data" / "train") for _, s in iter_samples(shard.url)]
    assert sorted(s["txt"].decode() for s in samples) == ["a photo of astronaut", "a photo of grace_hopper"]
    for sample in samples:
        assert Image.open(io.BytesIO(sample["crop.png"])).size == (448, 448)
        assert np.linalg.norm(np.load(io.BytesIO(sample["emb.npy"]))) == pytest.approx(1.0, abs=1e-3)
