"""The FaceNet triplet loss (Schroff et al. 2015, eq. 2):

    L = sum over triplets of [ |f(a) - f(p)|^2 - |f(a) - f(n)|^2 + alpha ]_+

on embeddings that are already L2-normalised (the loss does not normalise them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from facenet.mining.base import Triplets, check_embeddings, check_margin
from facenet.validation import check_option, check_type

REDUCTIONS = ("mean", "mean_active", "sum")


@dataclass(frozen=True)
class TripletStats:
    """Statistics of one loss evaluation (plain Python numbers, for logging).

    n_triplets: number of triplets given; n_active: those with a loss > 0;
    fraction_active: n_active / n_triplets (0.0 with no triplets);
    mean_d_ap, mean_d_an: mean squared L2 anchor-positive / anchor-negative distance
    (nan with no triplets).
    """

    n_triplets: int
    n_active: int
    fraction_active: float
    mean_d_ap: float
    mean_d_an: float


class TripletLoss(nn.Module):
    """Triplet loss with margin on squared L2 distances.

    margin: alpha, a float >= 0 (the paper uses 0.2).
    reduction: ``"mean"`` over all given triplets (the paper), ``"mean_active"`` over the
        triplets with a positive loss (0 when none), or ``"sum"``.

    ``loss(embeddings (B, D) float tensor, L2-normalised, triplets: Triplets) -> ()`` tensor.
    With zero triplets (or, for ``"mean_active"``, zero active ones) the loss is an exact 0
    that is still connected to ``embeddings``: ``backward()`` works and gives zero gradients.
    """

    def __init__(self, margin: float = 0.2, reduction: str = "mean") -> None:
        super().__init__()
        self.margin = check_margin(margin, "TripletLoss")
        self.reduction = check_option(reduction, "reduction", REDUCTIONS, owner="TripletLoss")

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"

    def per_triplet(self, embeddings: torch.Tensor, triplets: Triplets) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(losses, d_ap, d_an): three (T,) tensors; losses = relu(d_ap - d_an + margin)."""
        self._check(embeddings, triplets)
        a = embeddings[triplets.anchors]
        d_ap = (a - embeddings[triplets.positives]).pow(2).sum(1)
        d_an = (a - embeddings[triplets.negatives]).pow(2).sum(1)
        return torch.relu(d_ap - d_an + self.margin), d_ap, d_an

    def forward(self, embeddings: torch.Tensor, triplets: Triplets) -> torch.Tensor:
        """The reduced loss, a () tensor. embeddings: (B, D); triplets index into its rows."""
        losses, _, _ = self.per_triplet(embeddings, triplets)
        return self._reduce(losses)

    def compute(self, embeddings: torch.Tensor, triplets: Triplets) -> tuple[torch.Tensor, TripletStats]:
        """``(loss, stats)``: the reduced loss as in :meth:`forward` and its :class:`TripletStats`."""
        losses, d_ap, d_an = self.per_triplet(embeddings, triplets)
        n = len(triplets)
        n_active = int((losses > 0).sum())
        with torch.no_grad():
            stats = TripletStats(
                n_triplets=n,
                n_active=n_active,
                fraction_active=n_active / n if n else 0.0,
                mean_d_ap=float(d_ap.mean()) if n else math.nan,
                mean_d_an=float(d_an.mean()) if n else math.nan,
            )
        return self._reduce(losses), stats

    def _reduce(self, losses: torch.Tensor) -> torch.Tensor:
        total = losses.sum()  # an empty sum is a 0 still attached to the graph
        if self.reduction == "sum":
            return total
        if self.reduction == "mean":
            return total / max(len(losses), 1)
        return total / (losses > 0).sum().clamp_min(1)

    @staticmethod
    def _check(embeddings: torch.Tensor, triplets: Triplets) -> None:
        check_embeddings(embeddings, "TripletLoss")
        check_type(triplets, "triplets", Triplets, owner="TripletLoss", what="a Triplets")
        if len(triplets):
            idx = torch.stack(triplets.as_tuple())
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 0 or hi >= len(embeddings):
                raise ValueError(
                    f"The 'triplets' parameter of TripletLoss must index rows of the {len(embeddings)} embeddings. "
                    f"Got indices in [{lo}, {hi}] instead."
                )
