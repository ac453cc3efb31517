"""Deterministic, resumable batches from shards, split over processes without changing the global batch.

A global batch is `streams` equal slices; stream k reads shards k, k+S, k+2S, ... of the epoch's shard
order (shuffled per epoch with the seed). Process r of R owns streams [r*S/R, (r+1)*S/R), so the
processes' batches concatenated in rank order are exactly the batch one process would read. The data
position is (epoch, batch); resuming skips whole shards by their counts in index.json.
"""
from __future__ import annotations

import queue
import random
import threading
from dataclasses import dataclass
from typing import Callable, Generic, Iterator, TypeVar

from ..errors import UsageError
from .shards import Sample, ShardInfo, iter_samples

Item = TypeVar("Item")
Batch = TypeVar("Batch")


@dataclass(frozen=True)
class Position:
    epoch: int = 0
    batch: int = 0  # batches of this epoch already consumed


class BatchStream(Generic[Item, Batch]):
    def __init__(
        self, shards: list[ShardInfo], streams: int, global_batch: int, rank: int, world: int, seed: int,
        decode: Callable[[str, Sample], Item], collate: Callable[[list[Item]], Batch],
    ):
        if global_batch % streams:
            raise UsageError(f"run.batch_size {global_batch} must be a multiple of data.streams {streams}.")
        if streams % world:
            raise UsageError(f"data.streams {streams} must be a multiple of the number of processes {world}.")
        self.shards, self.streams, self.seed = shards, streams, seed
        self.per_stream = global_batch // streams
        self.own = range(rank * streams // world, (rank + 1) * streams // world)
        self.decode, self.collate = decode, collate
        if self.batches_in_epoch(0) == 0:
            smallest = min(sum(s.samples for s in self._stream_shards(0, k)) for k in range(streams))
            raise UsageError(
                f"The dataset is too small for one batch: {sum(s.samples for s in shards)} samples in {len(shards)} shard(s), "
                f"split into {streams} streams (the smallest gets {smallest}), each of which must give {self.per_stream} "
                "samples per batch. Lower data.streams or run.batch_size, or prepare with a smaller --shard-size."
            )

    def _stream_shards(self, epoch: int, stream: int) -> list[ShardInfo]:
        order = list(self.shards)
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return order[stream :: self.streams]

    def batches_in_epoch(self, epoch: int) -> int:
        """Every process computes the same count, so none runs out of data before the others."""
        return min(sum(s.samples for s in self._stream_shards(epoch, k)) for k in range(self.streams)) // self.per_stream

    def _stream(self, epoch: int, stream: int, skip: int) -> Iterator[tuple[str, Sample]]:
        for shard in self._stream_shards(epoch, stream):
            if skip >= shard.samples:
                skip -= shard.samples
                continue
            yield from iter_samples(shard.url, skip)
            skip = 0

    def _batches(self, start: Position) -> Iterator[tuple[Position, Batch]]:
        epoch, first = start.epoch, start.batch
        while True:
            sources = [self._stream(epoch, k, first * self.per_stream) for k in self.own]
            for batch in range(first, self.batches_in_epoch(epoch)):
                items = [self.decode(*next(source)) for source in sources for _ in range(self.per_stream)]
                yield Position(epoch, batch + 1), self.collate(items)
            epoch, first = epoch + 1, 0

    def __call__(self, start: Position, prefetch: bool = True) -> Iterator[tuple[Position, Batch]]:
        """Endless (position after the batch, this process's batch) from `start`, across epochs."""
        return _prefetched(self._batches(start)) if prefetch else self._batches(start)


def _prefetched(source: Iterator[Item], depth: int = 2) -> Iterator[Item]:
    """Decode ahead in a daemon thread (image decoding releases the GIL); errors surface in the consumer."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)

    def fill() -> None:
        try:
            for item in source:
                buffer.put((True, item))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            buffer.put((False, exc))

    threading.Thread(target=fill, daemon=True).start()
    while True:
        ok, item = buffer.get()
        if not ok:
            raise item
        yield item
