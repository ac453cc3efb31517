"""The reference crop from another photo of the same person (stage 2, `train.reference = "other"`).

With the crop of the training photo itself as the reference, the model can learn to copy the photo's pose,
expression and lighting from the crop; a crop of another photo of the person carries only the identity.
At start the bank reads every shard's member headers and `json` members (identity), keeping where each
`crop.png` lies in its tar file; a batch's crops are then swapped for another photo's, read by offset. The choice
is the sample's seed modulo the person's other photos: the same for any number of processes and on resume.
A person with one photo keeps its own crop. Needs local shard files (`pipe:` streams cannot seek).
"""
from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from typing import Iterator, Protocol

import torch

from ..errors import UsageError
from .images import chw, decode
from .shards import ShardInfo
from .stream import Position


@dataclass(frozen=True)
class CropLocation:
    key: str
    path: str
    offset: int
    size: int


class HasReferences(Protocol):
    keys: list[str]
    identities: list[str]
    crops: torch.Tensor
    seeds: torch.Tensor | None


class ReferenceBank:
    def __init__(self, shards: list[ShardInfo]):
        self.by_identity: dict[str, list[CropLocation]] = {}
        for shard in shards:
            if shard.url.startswith("pipe:"):
                raise UsageError(f"train.reference = 'other' reads crops by offset, which a pipe: shard ({shard.url}) "
                                 "cannot give: copy the shards to a local or network disk, or use train.reference = 'same'.")
            crops, identities = {}, {}
            with tarfile.open(shard.url) as tar:  # random access: headers are read, member data is skipped
                for member in tar:
                    key, _, ext = member.name.rsplit("/", 1)[-1].partition(".")
                    if ext == "crop.png":
                        crops[key] = (member.offset_data, member.size)
                    elif ext == "json":
                        identities[key] = json.loads(tar.extractfile(member).read())["identity"]
            for key, identity in identities.items():
                if key in crops:
                    self.by_identity.setdefault(identity, []).append(CropLocation(key, shard.url, *crops[key]))

    def other_crop(self, key: str, identity: str, seed: int) -> bytes | None:
        """The encoded crop of another photo of `identity` than `key`, picked by `seed`; None if there is none."""
        others = [c for c in self.by_identity.get(identity, []) if c.key != key]
        if not others:
            return None
        chosen = others[seed % len(others)]
        with open(chosen.path, "rb") as file:
            file.seek(chosen.offset)
            return file.read(chosen.size)

    def swap(self, batch: HasReferences) -> None:
        """Replace each of the batch's crops with another photo's of the same person (in place; needs its seeds)."""
        for i, (key, identity, seed) in enumerate(zip(batch.keys, batch.identities, batch.seeds.tolist())):
            data = self.other_crop(key, identity, seed)
            if data is not None:
                batch.crops[i] = chw(decode(data))


def with_references(batches: Iterator[tuple[Position, HasReferences]], bank: ReferenceBank
                    ) -> Iterator[tuple[Position, HasReferences]]:
    for position, batch in batches:
        bank.swap(batch)
        yield position, batch
