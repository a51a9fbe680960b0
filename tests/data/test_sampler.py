"""PKSampler: P identities x K images per batch, seeded; one global order for every process."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from facenet.data.sampler import PKSampler


def make_labels(seed: int = 0) -> list[int]:
    """Identity i has i % 9 images (0, 1: unusable; 2..3: fewer than K=4; 4..8: enough), shuffled."""
    g = torch.Generator().manual_seed(seed)
    labels = [i for i in range(40) for _ in range(i % 9)]
    return [labels[j] for j in torch.randperm(len(labels), generator=g).tolist()]


LABELS = make_labels()
COUNTS = Counter(LABELS)
USABLE = sorted(i for i, c in COUNTS.items() if c >= 2)


def check_batch(batch: list[int], p: int, k: int) -> list[int]:
    """Assert the P x K structure; return the identities of the batch."""
    assert len(batch) == p * k and all(isinstance(i, int) for i in batch)
    blocks = [batch[j * k : (j + 1) * k] for j in range(p)]
    ids = [LABELS[b[0]] for b in blocks]
    assert len(set(ids)) == p  # P distinct identities
    for ident, block in zip(ids, blocks):
        assert {LABELS[i] for i in block} == {ident}  # K images of that identity
        if COUNTS[ident] >= k:
            assert len(set(block)) == k  # without replacement
        else:
            assert {i for i, lab in enumerate(LABELS) if lab == ident} == set(block)  # every image, rest repeated
    return ids


@pytest.mark.parametrize("p,k", [(2, 2), (5, 4), (8, 3)])
def test_every_batch_is_p_identities_times_k_images(p, k):
    sampler = PKSampler(LABELS, p, k, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == len(USABLE) // p
    seen = [ident for b in batches for ident in check_batch(b, p, k)]
    assert len(seen) == len(set(seen))  # each identity at most once per epoch
    assert set(seen) <= set(USABLE)  # never an identity with < 2 images
    assert len(set(seen)) == len(USABLE) - len(USABLE) % p


def test_seeded_determinism_and_epochs():
    a, b = PKSampler(LABELS, 5, 4, seed=3), PKSampler(LABELS, 5, 4, seed=3)
    e0 = list(a)
    assert list(b) == e0 and list(a) == e0  # same (seed, epoch): same batches, iterating twice too
    a.set_epoch(1)
    e1 = list(a)
    assert e1 != e0 and sorted(map(sorted, e1)) != sorted(map(sorted, e0))
    b.set_epoch(1)
    assert list(b) == e1
    a.set_epoch(0)
    assert list(a) == e0
    assert list(PKSampler(LABELS, 5, 4, seed=4)) != e0
    # Over several epochs every usable identity shows up and the with-replacement extras vary.
    seen = set()
    for epoch in range(6):
        a.set_epoch(epoch)
        seen |= {LABELS[i] for batch in a for i in batch}
    assert seen == set(USABLE)


def test_batches_are_one_global_order_without_ranks():
    """The sampler knows nothing of processes: two samplers built alike (as on two ranks) yield
    the same batches, and ``batches()`` is what iteration yields."""
    a, b = PKSampler(LABELS, 4, 3, seed=1), PKSampler(LABELS, 4, 3, seed=1)
    a.set_epoch(2)
    b.set_epoch(2)
    assert a.batches() == list(a) == list(b)
    assert len(a.batches()) == len(a) == len(USABLE) // 4
    with pytest.raises(TypeError):
        PKSampler(LABELS, 4, 3, seed=1, rank=0, world_size=2)  # the rank sharding is gone


def test_works_as_a_dataloader_batch_sampler():
    data = TensorDataset(torch.arange(len(LABELS)), torch.tensor(LABELS))
    loader = DataLoader(data, batch_sampler=PKSampler(LABELS, 3, 2, seed=0))
    batches = list(loader)
    assert len(batches) == len(USABLE) // 3
    for idx, lab in batches:
        assert idx.shape == (6,) and lab.tolist() == [LABELS[i] for i in idx.tolist()]


def test_accepts_tensor_labels():
    assert list(PKSampler(torch.tensor(LABELS), 3, 2, seed=0)) == list(PKSampler(LABELS, 3, 2, seed=0))


def test_argument_validation():
    with pytest.raises(ValueError, match=r"The 'people_per_batch' parameter of PKSampler must be an int in \[2, inf\). Got 1 instead."):
        PKSampler(LABELS, 1, 4, seed=0)
    with pytest.raises(ValueError, match="'images_per_person' parameter of PKSampler"):
        PKSampler(LABELS, 2, 1, seed=0)
    with pytest.raises(ValueError, match="'seed' parameter"):
        PKSampler(LABELS, 2, 2, seed=None)
    with pytest.raises(ValueError, match=r"The 'seed' parameter of PKSampler must be an int in \[0, inf\). Got -1 instead."):
        PKSampler(LABELS, 2, 2, seed=-1)
    with pytest.raises(ValueError, match="'people_per_batch' parameter"):
        PKSampler(LABELS, True, 2, seed=0)  # bools are not counts
    with pytest.raises(ValueError, match="'images_per_person' parameter"):
        PKSampler(LABELS, 2, 2.0, seed=0)
    with pytest.raises(ValueError, match="'labels' parameter of PKSampler"):
        PKSampler([0.5, 1.5], 2, 2, seed=0)
    # Only identities 2 and 3 have >= 2 images: P = 3 is impossible.
    with pytest.raises(ValueError, match=r"at least people_per_batch = 3 identities with >= 2 images. Got 2 \(of 4"):
        PKSampler([0, 1, 2, 2, 3, 3, 3], 3, 2, seed=0)
    assert len(PKSampler([0, 1, 2, 2, 3, 3, 3], 2, 2, seed=0)) == 1  # exactly P usable identities: one batch
    with pytest.raises(ValueError, match="'epoch' parameter"):
        PKSampler(LABELS, 2, 2, seed=0).set_epoch(-1)


def test_numpy_integers_are_accepted():
    import numpy as np

    s = PKSampler(np.asarray(LABELS), np.int64(3), np.int32(2), seed=np.int64(0))
    assert (s.people_per_batch, s.images_per_person, s.seed) == (3, 2, 0)
    assert all(type(v) is int for v in (s.people_per_batch, s.images_per_person, s.seed))
    assert list(s) == list(PKSampler(LABELS, 3, 2, seed=0))
