"""P x K batch sampler for online triplet mining: each batch holds P identities with K images each
(FaceNet section 3.2; Hermans et al. 2017 "PK batches")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


def _check_int(value: object, name: str, low: int, high: str = "inf") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"The '{name}' parameter of PKSampler must be an int in [{low}, {high}). Got {value!r} instead.")
    return int(value)


class PKSampler(Sampler[list[int]]):
    """Batches of ``people_per_batch`` (P) identities x ``images_per_person`` (K) images.

    labels: the identity of every dataset item (``labels[i]`` for index ``i``), integers.
    people_per_batch: P >= 2; images_per_person: K >= 2; seed: int; rank, world_size: for DDP.

    Use it as ``DataLoader(dataset, batch_sampler=PKSampler(...))``; each yielded batch is a
    list of P*K dataset indices grouped by identity (P consecutive blocks of K).

    * Identities with fewer than 2 images cannot form an anchor-positive pair: they are
      excluded. A ValueError is raised with fewer than ``P * world_size`` usable identities.
    * An identity with ``n >= K`` images contributes K distinct images, a fresh random subset
      each epoch. One with ``2 <= n < K`` images contributes all n (each once) plus K - n
      drawn *with replacement* from them, so it always has at least 2 distinct images.
    * Each epoch the usable identities are shuffled and cut into consecutive groups of P:
      every identity appears at most once per epoch, the last ``n_usable % P`` are left out
      (a different set each epoch). That gives ``n_usable // P`` global batches per epoch.
    * Everything is drawn from ``numpy.random.default_rng((seed, epoch))``: the batches are a
      deterministic function of (labels, P, K, seed, epoch). Call :meth:`set_epoch` before
      each epoch (as with DistributedSampler); the epoch starts at 0.
    * DDP: all ranks build the same global batch order; global batch i goes to rank
      ``i % world_size``, truncated to ``(n_usable // P) // world_size`` batches per rank
      so every rank runs the same number of steps. ``len(sampler)`` is that per-rank count.
    """

    def __init__(
        self,
        labels: Sequence[int],
        people_per_batch: int,
        images_per_person: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__()
        self.people_per_batch = _check_int(people_per_batch, "people_per_batch", 2)
        self.images_per_person = _check_int(images_per_person, "images_per_person", 2)
        self.seed = _check_int(seed, "seed", 0)
        self.world_size = _check_int(world_size, "world_size", 1)
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < self.world_size:
            raise ValueError(
                f"The 'rank' parameter of PKSampler must be an int in [0, world_size={self.world_size}). Got {rank!r} instead."
            )
        self.rank = int(rank)
        lab = np.asarray(labels)
        if lab.ndim != 1 or not (np.issubdtype(lab.dtype, np.integer) or (lab.size == 0 and lab.dtype == np.float64)):
            raise ValueError(f"The 'labels' parameter of PKSampler must be a 1-D sequence of ints. Got {labels!r} instead.")
        # Identities in sorted label order, each with its dataset indices in increasing order.
        order = np.argsort(lab, kind="stable")
        uniq, starts, counts = np.unique(lab[order], return_index=True, return_counts=True)
        groups = [order[s : s + c] for s, c in zip(starts, counts) if c >= 2]
        self.identities: tuple[int, ...] = tuple(int(u) for u, c in zip(uniq, counts) if c >= 2)
        self._groups: tuple[np.ndarray, ...] = tuple(groups)
        needed = self.people_per_batch * self.world_size
        if len(groups) < needed:
            raise ValueError(
                f"PKSampler needs at least people_per_batch * world_size = {needed} identities with >= 2 images. "
                f"Got {len(groups)} (of {len(uniq)} identities) instead."
            )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (an int >= 0) whose batches the next iteration yields."""
        self.epoch = _check_int(epoch, "epoch", 0)

    def __len__(self) -> int:
        return (len(self._groups) // self.people_per_batch) // self.world_size

    def global_batches(self) -> list[list[int]]:
        """All batches of the current epoch, for all ranks, in global order."""
        rng = np.random.default_rng((self.seed, self.epoch))
        p, k = self.people_per_batch, self.images_per_person
        perm = rng.permutation(len(self._groups))
        batches = []
        for b in range(len(perm) // p):
            batch: list[int] = []
            for g in perm[b * p : (b + 1) * p]:
                idx = self._groups[g]
                if len(idx) >= k:
                    chosen = rng.permutation(idx)[:k]
                else:
                    chosen = rng.permutation(np.concatenate([idx, rng.choice(idx, size=k - len(idx), replace=True)]))
                batch.extend(int(i) for i in chosen)
            batches.append(batch)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        n = len(self) * self.world_size
        yield from self.global_batches()[self.rank : n : self.world_size]
