"""Identity retrieval on held-out identities: does the joint embedding put photos of one person together?

Each held-out photo is a query against all the others (leave-one-out); a hit is a nearest neighbour (cosine)
of the same identity. Only identities with two or more photos count as queries.
"""
from __future__ import annotations

import torch

from .shards import ShardInfo, iter_samples
from .stage1 import Stage1Decoder, Stage1Objective, collate


def retrieval_top1(embeddings: torch.Tensor, identity: torch.Tensor) -> float:
    """Leave-one-out nearest-neighbour accuracy of L2-normalised `embeddings` (N, D) with labels `identity` (N,)."""
    similarity = embeddings @ embeddings.T
    similarity.fill_diagonal_(float("-inf"))
    nearest = similarity.argmax(dim=1)
    counts = (identity[:, None] == identity[None, :]).sum(dim=1)
    queries = counts >= 2
    if not queries.any():
        return float("nan")
    return (identity[nearest] == identity)[queries].float().mean().item()


class RetrievalValidator:
    def __init__(self, shards: list[ShardInfo], image_size: int, batch_size: int = 64, max_samples: int = 2000):
        decode = Stage1Decoder(image_size)
        items = []
        for shard in shards:
            for key, sample in iter_samples(shard.url):
                if len(items) >= max_samples:
                    break
                items.append(decode(key, sample))
        self.batches = [collate(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]

    def __call__(self, objective: Stage1Objective) -> dict[str, float]:
        identity = torch.cat([b.identity for b in self.batches])
        scores = {}
        for name in objective.branch_names:
            embeddings = torch.cat([objective.identity_embedding(b.crops, b.captions, name).float().cpu() for b in self.batches])
            scores[f"val/{name}_identity_top1"] = retrieval_top1(embeddings, identity)
        return scores
