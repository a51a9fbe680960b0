"""Batch-hard online triplet mining (Hermans, Beyer & Leibe 2017, "In Defense of the Triplet
Loss for Person Re-Identification"): for every anchor, its hardest positive and hardest negative."""

from __future__ import annotations

import torch

from facenet.mining.base import Triplets, check_batch, label_masks, pairwise_squared_distances


class BatchHardMiner:
    """One triplet per anchor: the positive with the largest ``d(a,p)`` and the negative with
    the smallest ``d(a,n)`` (squared L2; ties broken by the lowest index).

    Anchors with no positive or no negative in the batch are left out.
    ``miner(embeddings (B, D), labels (B,)) -> Triplets``, ordered by anchor.
    """

    def __repr__(self) -> str:
        return "BatchHardMiner()"

    @torch.no_grad()
    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
        """Mine one batch. embeddings: (B, D) float tensor, L2-normalised; labels: (B,) integers."""
        emb, lab = check_batch(embeddings, labels, "BatchHardMiner")
        dist = pairwise_squared_distances(emb)
        pos, neg = label_masks(lab)
        if len(lab) == 0:
            return Triplets.empty(emb.device)
        hardest_pos = dist.masked_fill(~pos, float("-inf")).argmax(1)
        hardest_neg = dist.masked_fill(~neg, float("inf")).argmin(1)
        keep = pos.any(1) & neg.any(1)
        anchors = torch.arange(len(lab), device=emb.device)
        return Triplets(anchors[keep], hardest_pos[keep], hardest_neg[keep])
