"""Streaming shards in the WebDataset layout: plain tar files whose members `KEY.EXT` group into samples.

Why this format: a tar shard is read front to back with no index or seek, so shards stream from local
disks, network file systems or object stores (`pipe:aws s3 cp s3://bucket/shard.tar -`, run without a
shell and only when the run's config sets `data.allow_pipe = true`), and any
WebDataset tool reads them. Writing and reading need only the standard library's `tarfile`.
`index.json` beside the shards lists them with their sample counts, so a resumed run skips whole
shards instead of reading them.
"""
from __future__ import annotations

import io
import json
import shlex
import subprocess
import tarfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from ..files.atomic import atomic_path, write_text
from ..errors import UsageError

INDEX_NAME = "index.json"
PIPE = "pipe:"
Sample = dict[str, bytes]  # member extension ("jpg", "crop.png", "txt", "json", "emb.npy") -> bytes


class ShardWriter:
    """Writes samples to `prefix-000000.tar`, `prefix-000001.tar`, ... with at most `shard_size` samples each."""

    def __init__(self, folder: Path, shard_size: int, prefix: str = "shard"):
        self.folder = Path(folder)
        self.shard_size = shard_size
        self.prefix = prefix
        self.shards: list[dict[str, object]] = []
        self._tar: tarfile.TarFile | None = None
        self._writing = ExitStack()
        self._count = 0

    def _open_next(self) -> None:
        self._close_current()
        name = f"{self.prefix}-{len(self.shards):06d}.tar"
        self.shards.append({"path": name, "samples": 0})
        # written through the atomic writer: a crash never leaves a truncated shard that looks complete
        partial = self._writing.enter_context(atomic_path(self.folder / name))
        self._tar = tarfile.open(partial, "w")
        self._count = 0

    def _close_current(self) -> None:
        if self._tar is None:
            return
        self._tar.close()
        self._writing.close()  # renames the finished shard into place
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
        write_text(self.folder / INDEX_NAME, json.dumps(index, indent=1))
        return index


@dataclass(frozen=True)
class ShardInfo:
    url: str  # a path, or "pipe:COMMAND ARGS" whose stdout is the tar (only when the run allows it)
    samples: int


def read_index(folder: str | Path, allow_pipe: bool = False) -> list[ShardInfo]:
    """The shards of a prepared dataset folder, checked to exist and to hold samples.

    A `pipe:` entry runs a command, so a shared dataset could run anything: refused unless the run's
    config says `data.allow_pipe = true`.
    """
    folder = Path(folder)
    index_path = folder / INDEX_NAME
    if not index_path.is_file():
        raise UsageError(
            f"{folder} is not a prepared dataset: {index_path} is missing. "
            "Create it with `python -m faceclip_core.train prepare --images DIR --out DATA`, and point the config at DATA/train."
        )
    shards = [_shard_info(folder, entry, index_path, number, allow_pipe) for number, entry in enumerate(_index_entries(index_path))]
    shards = [s for s in shards if s.samples > 0]
    if not shards:
        raise UsageError(
            f"The dataset {folder} is empty (0 samples). Check prepare's report (skipped.jsonl) for why images were skipped."
        )
    missing = [s.url for s in shards if not s.url.startswith(PIPE) and not Path(s.url).is_file()]
    if missing:
        raise UsageError(f"{len(missing)} shard(s) listed in {index_path} are missing, e.g. {missing[0]}. Copy them back or prepare again.")
    return shards


def _index_entries(index_path: Path) -> list:
    fix = "Prepare the dataset again, or mend the file (see faceclip_core/train/shards.py for its layout)."
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{index_path} is not a readable JSON file ({exc}). {fix}") from exc
    if not isinstance(index, dict) or not isinstance(index.get("shards"), list):
        raise UsageError(f"{index_path} has no 'shards' list. {fix}")
    return index["shards"]


def _shard_info(folder: Path, entry: object, index_path: Path, number: int, allow_pipe: bool) -> ShardInfo:
    where = f"{index_path}, shard entry {number}"
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"]:
        raise UsageError(f"{where} needs a 'path' (text), got {entry!r}. Prepare the dataset again.")
    samples = entry.get("samples")
    if type(samples) is not int or samples < 0:
        raise UsageError(f"{where} ({entry['path']}) needs 'samples', a whole number >= 0, got {samples!r}. Prepare the dataset again.")
    path = entry["path"]
    if path.startswith(PIPE):
        if not allow_pipe:
            raise UsageError(
                f"{where} is a command ({path!r}): reading it would run that command. Refused, since a dataset "
                "from elsewhere could run anything. If you wrote this index and trust it, set `allow_pipe = true` "
                "under [data] in the run's config."
            )
        if not shlex.split(path[len(PIPE):]):
            raise UsageError(f"{where} is an empty 'pipe:' command.")
        return ShardInfo(path, samples)
    return ShardInfo(str(folder / path), samples)


def _open(url: str) -> tuple[IO[bytes], subprocess.Popen | None]:
    if url.startswith(PIPE):
        # an argument list, never a shell: no expansion, redirection or chaining of what the entry says
        process = subprocess.Popen(shlex.split(url[len(PIPE):]), stdout=subprocess.PIPE)
        return process.stdout, process
    return open(url, "rb"), None


def iter_samples(url: str, skip: int = 0) -> Iterator[tuple[str, Sample]]:
    """(key, sample) of one shard in order, streaming; the first `skip` samples are passed over undecoded."""
    try:
        stream, process = _open(url)
    except OSError as exc:
        raise UsageError(f"Cannot open the shard {url}: {exc}.") from exc
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
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UsageError(f"The shard {url} is not a readable tar file ({exc}). Prepare the dataset again, or copy "
                         "the shard again.") from exc
    finally:
        stream.close()
        if process is not None:
            process.wait()
