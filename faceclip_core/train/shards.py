"""Streaming shards in the WebDataset layout: plain tar files whose members `KEY.EXT` group into samples.

Why this format: a tar shard is read front to back with no index or seek, so shards stream from local
disks, network file systems or object stores (`pipe:aws s3 cp s3://bucket/shard.tar -`), and any
WebDataset tool reads them. Writing and reading need only the standard library's `tarfile`.
`index.json` beside the shards lists them with their sample counts, so a resumed run skips whole
shards instead of reading them.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from ..errors import UsageError

INDEX_NAME = "index.json"
Sample = dict[str, bytes]  # member extension ("jpg", "crop.png", "txt", "json", "emb.npy") -> bytes


class ShardWriter:
    """Writes samples to `prefix-000000.tar`, `prefix-000001.tar`, ... with at most `shard_size` samples each."""

    def __init__(self, folder: Path, shard_size: int, prefix: str = "shard"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        self.prefix = prefix
        self.shards: list[dict[str, object]] = []
        self._tar: tarfile.TarFile | None = None
        self._count = 0

    def _open_next(self) -> None:
        self._close_current()
        name = f"{self.prefix}-{len(self.shards):06d}.tar"
        self.shards.append({"path": name, "samples": 0})
        # written under a temporary name: a crash never leaves a truncated shard that looks complete
        self._tar = tarfile.open(self.folder / (name + ".partial"), "w")
        self._count = 0

    def _close_current(self) -> None:
        if self._tar is None:
            return
        self._tar.close()
        name = str(self.shards[-1]["path"])
        os.replace(self.folder / (name + ".partial"), self.folder / name)
        self.shards[-1]["samples"] = self._count
        self._tar = None

    def write(self, key: str, sample: Sample) -> None:
        if self._tar is None or self._count >= self.shard_size:
            self._open_next()
        for ext, data in sample.items():
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size = len(data)
            info.mtime = 0  # identical inputs give byte-identical shards
            self._tar.addfile(info, io.BytesIO(data))
        self._count += 1

    def close(self) -> dict[str, object]:
        """Finish the last shard and write the index; returns it."""
        self._close_current()
        index = {"format": "webdataset", "shards": self.shards, "samples": sum(int(s["samples"]) for s in self.shards)}
        (self.folder / INDEX_NAME).write_text(json.dumps(index, indent=1))
        return index


@dataclass(frozen=True)
class ShardInfo:
    url: str  # a path, or "pipe:COMMAND" whose stdout is the tar
    samples: int


def read_index(folder: str | Path) -> list[ShardInfo]:
    """The shards of a prepared dataset folder, checked to exist and to hold samples."""
    folder = Path(folder)
    index_path = folder / INDEX_NAME
    if not index_path.is_file():
        raise UsageError(
            f"{folder} is not a prepared dataset: {index_path} is missing. "
            "Create it with `python -m faceclip_core.train prepare --images DIR --out DATA`, and point the config at DATA/train."
        )
    index = json.loads(index_path.read_text())
    shards = [
        ShardInfo(s["path"] if str(s["path"]).startswith("pipe:") else str(folder / s["path"]), int(s["samples"]))
        for s in index["shards"]
    ]
    shards = [s for s in shards if s.samples > 0]
    if not shards:
        raise UsageError(
            f"The dataset {folder} is empty (0 samples). Check prepare's report (skipped.jsonl) for why images were skipped."
        )
    missing = [s.url for s in shards if not s.url.startswith("pipe:") and not Path(s.url).is_file()]
    if missing:
        raise UsageError(f"{len(missing)} shard(s) listed in {index_path} are missing, e.g. {missing[0]}. Copy them back or prepare again.")
    return shards


def _open(url: str) -> tuple[IO[bytes], subprocess.Popen | None]:
    if url.startswith("pipe:"):
        process = subprocess.Popen(url[len("pipe:"):], shell=True, stdout=subprocess.PIPE)
        return process.stdout, process
    return open(url, "rb"), None


def iter_samples(url: str, skip: int = 0) -> Iterator[tuple[str, Sample]]:
    """(key, sample) of one shard in order, streaming; the first `skip` samples are passed over undecoded."""
    stream, process = _open(url)
    try:
        key, sample, seen = None, {}, 0
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name = member.name.rsplit("/", 1)[-1]
                member_key, _, ext = name.partition(".")
                if member_key != key:
                    if key is not None:
                        if seen >= skip:
                            yield key, sample
                        seen += 1
                    key, sample = member_key, {}
                if seen >= skip:
                    sample[ext] = tar.extractfile(member).read()
            if key is not None and seen >= skip:
                yield key, sample
    finally:
        stream.close()
        if process is not None:
            process.wait()
