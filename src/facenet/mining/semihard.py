"""Semi-hard online triplet mining, exactly as in FaceNet (Schroff et al. 2015, section 3.2).

Every anchor-positive pair of the batch is used (a != p, same label, both orders). For each
pair, one negative is drawn uniformly at random among the *semi-hard* negatives

    d(a, p) < d(a, n) < d(a, p) + margin        (d: squared L2, both inequalities strict)

i.e. negatives farther than the positive but still inside the margin, so the triplet has a
positive loss while avoiding the hardest negatives (which the paper found to collapse training).
"""

from __future__ import annotations

import torch

from facenet.mining.base import Triplets, check_batch, check_margin, label_masks, pairwise_squared_distances
from facenet.validation import check_option, check_scalar

FALLBACKS = ("skip", "hardest_beyond")


def semihard_candidates(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All ordered anchor-positive pairs and, for each, its semi-hard negatives.

    embeddings: (B, D) float tensor (squared L2 is taken on it as is); labels: (B,) integers.
    Returns ``(anchors, positives, mask)``: anchors and positives (T,) int64 listing every
    ordered pair a != p with equal labels (row-major order), and mask (T, B) bool with
    ``mask[t, n]`` True iff ``labels[n] != labels[a]`` and ``d(a,p) < d(a,n) < d(a,p) + margin``.
    Memory is O(T * B): meant for inspection and tests (the miner does not build it).
    """
    margin = check_margin(margin, "semihard_candidates")
    with torch.no_grad():
        emb, lab = check_batch(embeddings, labels, "semihard_candidates")
        dist = pairwise_squared_distances(emb)
        pos, neg = label_masks(lab)
        anchors, positives = pos.nonzero(as_tuple=True)
        d_ap = dist[anchors, positives][:, None]
        d_an = dist[anchors]
        mask = neg[anchors] & (d_an > d_ap) & (d_an < d_ap + margin)
    return anchors, positives, mask


class SemiHardMiner:
    """FaceNet's online semi-hard negative miner.

    margin: the triplet-loss margin alpha (>= 0), defining the semi-hard band
        ``d(a,p) < d(a,n) < d(a,p) + margin`` on squared L2 distances.
    fallback: what to do with an anchor-positive pair that has no semi-hard negative:

        * ``"skip"`` (default, the paper): drop the pair.
        * ``"hardest_beyond"``: among the negatives strictly farther than the positive,
          ``d(a,n) > d(a,p)``, take the one with the smallest ``d(a,n)`` (ties: lowest index).
          As the band is empty, that negative has ``d(a,n) >= d(a,p) + margin``: an easy
          triplet with zero loss and zero gradient, whose only effect is that the pair still
          counts in the denominator of ``TripletLoss(reduction="mean")``. If every negative is
          at least as close as the positive (``d(a,n) <= d(a,p)``, all hard), the pair is
          dropped: hard negatives are never used, with either fallback.
    seed: an int >= 0 seeding the miner's own CPU ``torch.Generator`` (None: a non-deterministic seed).
        Two miners with the same seed fed the same batches return the same triplets (the
        random numbers are drawn on the CPU, one per pair, whatever the device).

    ``miner(embeddings (B, D), labels (B,)) -> Triplets``, ordered by (anchor, positive).
    The choice is vectorised: each anchor's negatives are sorted by distance once, so the
    candidates of a pair form a contiguous run found by binary search (O(B^2 log B) time,
    O(B^2) memory); with k candidates and u ~ U[0, 1), the ``floor(u * k)``-th candidate in
    (distance, index) order is taken.
    """

    def __init__(self, margin: float = 0.2, fallback: str = "skip", seed: int | None = None) -> None:
        self.margin = check_margin(margin, "SemiHardMiner")
        self.fallback = check_option(fallback, "fallback", FALLBACKS, owner="SemiHardMiner")
        self.seed = check_scalar(seed, "seed", int, min_val=0, allow_none=True, owner="SemiHardMiner")
        self.generator = torch.Generator(device="cpu")
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(self.seed)

    def __repr__(self) -> str:
        return f"SemiHardMiner(margin={self.margin}, fallback={self.fallback!r}, seed={self.seed})"

    @torch.no_grad()
    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
        """Mine one batch. embeddings: (B, D) float tensor, L2-normalised; labels: (B,) integers."""
        emb, lab = check_batch(embeddings, labels, "SemiHardMiner")
        dist = pairwise_squared_distances(emb)
        pos, neg = label_masks(lab)
        anchors, positives = pos.nonzero(as_tuple=True)
        # One uniform draw per pair, on the CPU: the stream depends only on the seed and pair count.
        u = torch.rand(len(anchors), generator=self.generator, dtype=torch.float32).to(emb.device)
        if len(anchors) == 0:
            return Triplets.empty(emb.device)
        # Each anchor's negatives sorted by distance (stable: ties by index; non-negatives last, at
        # +inf). The semi-hard band of pair (a, p) is then the contiguous slice [lo, hi) of row a.
        sorted_d, order = dist.masked_fill(~neg, float("inf")).sort(dim=1, stable=True)
        # d(a,p) laid out as (B, max positives per anchor), padded, so each row is searched once.
        n_pos = pos.sum(1)
        col = torch.arange(len(anchors), device=emb.device) - (n_pos.cumsum(0) - n_pos)[anchors]
        d_ap = dist.new_full((len(lab), int(n_pos.max())), float("inf"))
        d_ap[anchors, col] = dist[anchors, positives]
        lo = torch.searchsorted(sorted_d, d_ap, right=True)[anchors, col]  # first d(a,n) > d(a,p)
        hi = torch.searchsorted(sorted_d, d_ap + self.margin)[anchors, col]  # first d(a,n) >= d(a,p)+m
        count = hi - lo
        last = len(lab) - 1
        offset = (u * count).to(torch.int64).clamp(max=count - 1).clamp_min(0)
        pick = order[anchors, (lo + offset).clamp(max=last)]
        keep = count > 0
        if self.fallback == "hardest_beyond":
            beyond = lo < neg.sum(1)[anchors]  # some negative with d(a,n) > d(a,p): the one at lo
            pick = torch.where(keep, pick, order[anchors, lo.clamp(max=last)])
            keep = keep | beyond
        return Triplets(anchors[keep], positives[keep], pick[keep])
