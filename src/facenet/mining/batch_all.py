"""Batch-all online triplet mining (Hermans et al. 2017): every valid triplet of the batch,
optionally only those with a positive loss."""

from __future__ import annotations

import torch

from facenet.mining.base import Triplets, check_batch, check_margin, label_masks, pairwise_squared_distances
from facenet.validation import check_type

# Anchors are processed in chunks holding at most this many (anchor, positive, negative) cells.
_CHUNK_CELLS = 1 << 24


class BatchAllMiner:
    """All triplets (a, p, n) with a != p, ``labels[a] == labels[p] != labels[n]``.

    margin: the triplet-loss margin (>= 0); used only when ``only_active``.
    only_active: keep only triplets with a strictly positive loss,
        ``d(a,p) - d(a,n) + margin > 0`` (squared L2).

    ``miner(embeddings (B, D), labels (B,)) -> Triplets``, ordered by (anchor, positive, negative).
    The output can hold O(B^3) triplets (e.g. P*K*(K-1)*(B-K) before filtering).
    """

    def __init__(self, margin: float = 0.2, only_active: bool = True) -> None:
        self.margin = check_margin(margin, "BatchAllMiner")
        self.only_active = check_type(only_active, "only_active", bool, owner="BatchAllMiner", what="a bool")

    def __repr__(self) -> str:
        return f"BatchAllMiner(margin={self.margin}, only_active={self.only_active})"

    @torch.no_grad()
    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
        """Mine one batch. embeddings: (B, D) float tensor, L2-normalised; labels: (B,) integers."""
        emb, lab = check_batch(embeddings, labels, "BatchAllMiner")
        dist = pairwise_squared_distances(emb)
        pos, neg = label_masks(lab)
        batch = len(lab)
        if batch == 0:
            return Triplets.empty(emb.device)
        step = max(1, _CHUNK_CELLS // (batch * batch))
        parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for s in range(0, batch, step):
            valid = pos[s : s + step, :, None] & neg[s : s + step, None, :]
            if self.only_active:
                d = dist[s : s + step]
                valid &= (d[:, :, None] - d[:, None, :] + self.margin) > 0
            a, p, n = valid.nonzero(as_tuple=True)
            parts.append((a + s, p, n))
        return Triplets(*(torch.cat(x) for x in zip(*parts)))
