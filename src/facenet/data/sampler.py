"""P x K batch sampler for online triplet mining: each batch holds P identities with K images each
(FaceNet section 3.2; Hermans et al. 2017 "PK batches")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from facenet.validation import check_scalar


class PKSampler(Sampler[list[int]]):
    """Batches of ``people_per_batch`` (P) identities x ``images_per_person`` (K) images.

    labels: the identity of every dataset item (``labels[i]`` for index ``i``), (N,) integers.
    people_per_batch: P >= 2; images_per_person: K >= 2; seed: int >= 0.

    Use it as ``DataLoader(dataset, batch_sampler=PKSampler(...))``; each yielded batch is a
    list of P*K dataset indices grouped by identity (P consecutive blocks of K).

    * Identities with fewer than 2 images cannot form an anchor-positive pair: they are
      excluded. A ValueError is raised with fewer than P usable identities.
    * An identity with ``n >= K`` images contributes K distinct images, a fresh random subset
      each epoch. One with ``2 <= n < K`` images contributes all n (each once) plus K - n
      drawn *with replacement* from them, so it always has at least 2 distinct images.
    * Each epoch the usable identities are shuffled and cut into consecutive groups of P:
      every identity appears at most once per epoch, the last ``n_usable % P`` are left out
      (a different set each epoch). That gives ``n_usable // P`` batches per epoch.
    * Everything is drawn from ``numpy.random.default_rng((seed, epoch))``: the batches are a
      deterministic function of (labels, P, K, seed, epoch). Call :meth:`set_epoch` before
      each epoch; the epoch starts at 0.
    * Several processes: every process builds the same sampler and so the same global batches;
      the trainer gives each process its own slice of every batch (the sampler knows nothing
      of ranks).
    """

    def __init__(self, labels: Sequence[int], people_per_batch: int, images_per_person: int, seed: int) -> None:
        super().__init__()
        self.people_per_batch = check_scalar(people_per_batch, "people_per_batch", int, min_val=2, owner="PKSampler")
        self.images_per_person = check_scalar(images_per_person, "images_per_person", int, min_val=2, owner="PKSampler")
        self.seed = check_scalar(seed, "seed", int, min_val=0, owner="PKSampler")
        lab = np.asarray(labels)
        if lab.ndim != 1 or not (np.issubdtype(lab.dtype, np.integer) or (lab.size == 0 and lab.dtype == np.float64)):
            raise ValueError(f"The 'labels' parameter of PKSampler must be a 1-D sequence of ints. Got {labels!r} instead.")
        # Identities in sorted label order, each with its dataset indices in increasing order.
        order = np.argsort(lab, kind="stable")
        uniq, starts, counts = np.unique(lab[order], return_index=True, return_counts=True)
        groups = [order[s : s + c] for s, c in zip(starts, counts) if c >= 2]
        self.identities: tuple[int, ...] = tuple(int(u) for u, c in zip(uniq, counts) if c >= 2)
        self._groups: tuple[np.ndarray, ...] = tuple(groups)
        if len(groups) < self.people_per_batch:
            raise ValueError(
                f"PKSampler needs at least people_per_batch = {self.people_per_batch} identities with >= 2 images. "
                f"Got {len(groups)} (of {len(uniq)} identities) instead."
            )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (an int >= 0) whose batches the next iteration yields."""
        self.epoch = check_scalar(epoch, "epoch", int, min_val=0, owner="PKSampler")

    def __len__(self) -> int:
        """Batches per epoch: ``n_usable // P``."""
        return len(self._groups) // self.people_per_batch

    def batches(self) -> list[list[int]]:
        """All batches of the current epoch, in order: ``len(self)`` lists of P*K indices."""
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
        yield from self.batches()
