"""Online triplet miners against pure-Python brute force and pytorch-metric-learning."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from facenet.errors import UnknownModelError
from facenet.mining import (
    BatchAllMiner,
    BatchHardMiner,
    SemiHardMiner,
    Triplets,
    create_miner,
    list_miners,
    pairwise_squared_distances,
    semihard_candidates,
)

CASES = [(seed, b, c) for seed, (b, c) in enumerate([(12, 3), (16, 4), (20, 5), (24, 4), (18, 3), (24, 5)])]
MARGINS = [0.2, 0.5]


def make_batch(seed: int, b: int, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    """b points on the unit circle (float64, so no float ties) with labels in [0, c)."""
    g = torch.Generator().manual_seed(seed)
    angle = torch.rand(b, generator=g, dtype=torch.float64) * 2 * math.pi
    labels = torch.randint(0, c, (b,), generator=g)
    return torch.stack([angle.cos(), angle.sin()], 1), labels


def brute(emb: torch.Tensor, labels: torch.Tensor):
    """Squared distance function, ordered positive pairs and negatives of each anchor, in pure Python."""
    x, y = emb.tolist(), labels.tolist()
    n = len(y)

    def d(i: int, j: int) -> float:
        return sum((u - v) ** 2 for u, v in zip(x[i], x[j]))

    pairs = [(a, p) for a in range(n) for p in range(n) if a != p and y[a] == y[p]]
    negs = {a: [k for k in range(n) if y[k] != y[a]] for a in range(n)}
    return d, pairs, negs


def brute_semihard(emb, labels, margin):
    d, pairs, negs = brute(emb, labels)
    return {(a, p): {n for n in negs[a] if d(a, p) < d(a, n) < d(a, p) + margin} for a, p in pairs}


def as_set(t: Triplets) -> set[tuple[int, int, int]]:
    return set(zip(t.anchors.tolist(), t.positives.tolist(), t.negatives.tolist()))


def as_list(t: Triplets) -> list[tuple[int, int, int]]:
    return list(zip(t.anchors.tolist(), t.positives.tolist(), t.negatives.tolist()))


def test_pairwise_squared_distances_match_direct_difference():
    emb, _ = make_batch(0, 10, 3)
    direct = ((emb[:, None] - emb[None]) ** 2).sum(-1)
    torch.testing.assert_close(pairwise_squared_distances(emb), direct)
    assert (pairwise_squared_distances(emb).diagonal() == 0).all()


@pytest.mark.parametrize("margin", MARGINS)
@pytest.mark.parametrize("seed,b,c", CASES)
def test_semihard_candidates_equal_brute_force(seed, b, c, margin):
    emb, labels = make_batch(seed, b, c)
    expected = brute_semihard(emb, labels, margin)
    anchors, positives, mask = semihard_candidates(emb, labels, margin)
    pairs = list(zip(anchors.tolist(), positives.tolist()))
    assert pairs == list(expected)  # every ordered pair, both orders, row-major
    got = {pair: set(row.nonzero().flatten().tolist()) for pair, row in zip(pairs, mask)}
    assert got == expected
    assert any(expected.values()) and not all(expected.values())  # the cases are not trivial


@pytest.mark.parametrize("margin", MARGINS)
@pytest.mark.parametrize("seed,b,c", CASES)
def test_semihard_miner_one_valid_negative_per_pair(seed, b, c, margin):
    emb, labels = make_batch(seed, b, c)
    expected = brute_semihard(emb, labels, margin)
    got = as_list(SemiHardMiner(margin=margin, seed=seed)(emb, labels))
    assert [(a, p) for a, p, _ in got] == [pair for pair, cand in expected.items() if cand]
    assert all(n in expected[(a, p)] for a, p, n in got)  # d(a,p) < d(a,n) < d(a,p) + margin


def test_semihard_miner_is_deterministic_given_seed():
    emb, labels = make_batch(3, 24, 4)

    def three_calls(seed: int) -> list[list[tuple[int, int, int]]]:
        miner = SemiHardMiner(0.5, seed=seed)
        return [as_list(miner(emb, labels)) for _ in range(3)]

    first = three_calls(7)
    assert three_calls(7) == first  # a fresh miner with the same seed replays the same stream
    assert first[0] != first[1] != first[2]  # successive calls draw fresh choices
    assert three_calls(8) != first


def test_semihard_choice_is_uniform_over_candidates():
    emb, labels = make_batch(2, 20, 5)
    expected = brute_semihard(emb, labels, 0.5)
    multi = {pair: cand for pair, cand in expected.items() if len(cand) >= 2}
    assert sum(len(c) for c in multi.values()) >= 20
    miner, draws = SemiHardMiner(0.5, seed=123), 1500
    counts: dict[tuple[int, int], Counter] = {pair: Counter() for pair in multi}
    for _ in range(draws):
        for a, p, n in as_list(miner(emb, labels)):
            if (a, p) in counts:
                counts[(a, p)][n] += 1
    chi2, dof = 0.0, 0
    for pair, cand in multi.items():
        assert set(counts[pair]) == cand  # every candidate gets picked, nothing else
        exp = draws / len(cand)
        chi2 += sum((counts[pair][n] - exp) ** 2 / exp for n in cand)
        dof += len(cand) - 1
    assert chi2 < dof + 5 * math.sqrt(2 * dof), (chi2, dof)  # ~5 sigma under uniformity


def test_semihard_fallbacks_on_a_hand_made_batch():
    # Both classes are 1 apart internally and >= 4 apart from each other: no semi-hard negative.
    emb = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, 3.0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert len(SemiHardMiner(0.2)(emb, labels)) == 0
    got = as_list(SemiHardMiner(0.2, fallback="hardest_beyond")(emb, labels))
    assert got == [(0, 1, 2), (1, 0, 2), (2, 3, 0), (3, 2, 0)]  # the nearest negative farther than p
    # All negatives hard for (0, 1): d(0,1)=4 > d(0,2)=1, so the pair is dropped even with the fallback.
    emb = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    assert as_list(SemiHardMiner(0.2, fallback="hardest_beyond")(emb, labels)) == [(1, 0, 2)]


def test_semihard_band_is_strict_at_both_ends():
    # Exact distances: d(0,1) = 1; negatives of anchor 0 at d = 1 (tie), 2 (inside), 4 (= 1 + margin).
    emb = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 2.0]])
    labels = torch.tensor([0, 0, 1, 2, 3])
    anchors, positives, mask = semihard_candidates(emb, labels, margin=3.0)
    assert list(zip(anchors.tolist(), positives.tolist())) == [(0, 1), (1, 0)]
    assert mask[0].nonzero().flatten().tolist() == [3]  # not 2 (d = d_ap), not 4 (d = d_ap + margin)
    assert mask[1].nonzero().flatten().tolist() == [2]  # from anchor 1: d = 2, 1 (tie), 5
    miner = SemiHardMiner(3.0, seed=0)
    assert all(as_list(miner(emb, labels)) == [(0, 1, 3), (1, 0, 2)] for _ in range(50))  # never a boundary one


@pytest.mark.parametrize("seed,b,c", CASES)
def test_semihard_hardest_beyond_equals_brute_force(seed, b, c):
    emb, labels = make_batch(seed, b, c)
    d, pairs, negs = brute(emb, labels)
    band = brute_semihard(emb, labels, 0.2)
    got = as_list(SemiHardMiner(0.2, fallback="hardest_beyond", seed=seed)(emb, labels))
    expected_pairs = []
    for a, p in pairs:
        beyond = [n for n in negs[a] if d(a, n) > d(a, p)]
        if band[(a, p)] or beyond:
            expected_pairs.append((a, p))
        if not band[(a, p)] and beyond:
            assert (a, p, min(beyond, key=lambda n: d(a, n))) in got
    assert [(a, p) for a, p, _ in got] == expected_pairs
    assert any(not band[pair] for pair in expected_pairs)  # the fallback was exercised


@pytest.mark.parametrize("seed,b,c", CASES)
def test_batch_hard_equals_brute_force(seed, b, c):
    emb, labels = make_batch(seed, b, c)
    d, pairs, negs = brute(emb, labels)
    expected = []
    for a in range(b):
        ps = [p for aa, p in pairs if aa == a]
        if ps and negs[a]:
            expected.append((a, max(ps, key=lambda p: d(a, p)), min(negs[a], key=lambda n: d(a, n))))
    assert as_list(BatchHardMiner()(emb, labels)) == expected


@pytest.mark.parametrize("only_active", [True, False])
@pytest.mark.parametrize("seed,b,c", CASES)
def test_batch_all_equals_brute_force(seed, b, c, only_active):
    emb, labels = make_batch(seed, b, c)
    d, pairs, negs = brute(emb, labels)
    expected = [
        (a, p, n) for a, p in pairs for n in negs[a] if not only_active or d(a, p) - d(a, n) + 0.2 > 0
    ]
    assert as_list(BatchAllMiner(0.2, only_active=only_active)(emb, labels)) == expected


def test_batch_all_chunking_keeps_order(monkeypatch):
    emb, labels = make_batch(1, 16, 4)
    full = as_list(BatchAllMiner(0.2)(emb, labels))
    monkeypatch.setattr("facenet.mining.batch_all._CHUNK_CELLS", 3 * 16 * 16)
    assert as_list(BatchAllMiner(0.2)(emb, labels)) == full


@pytest.mark.parametrize("miner", [SemiHardMiner(fallback="hardest_beyond"), BatchHardMiner(), BatchAllMiner(only_active=False)])
def test_miners_degenerate_batches_and_no_grad(miner):
    emb, _ = make_batch(0, 6, 2)
    emb.requires_grad_(True)
    for labels in ([0] * 6, list(range(6)), torch.tensor([5, 5, 5, 5, 5, 5])):  # one class; all singletons
        t = miner(emb, labels)
        assert len(t) == 0 and t.anchors.dtype == torch.int64
    assert len(miner(emb[:0], torch.empty(0, dtype=torch.int64))) == 0
    t = miner(emb, [0, 0, 1, 1, 2, 2])  # labels as a list work
    assert len(t) > 0 and not t.anchors.requires_grad


def test_registry():
    assert list_miners() == ["batch_all", "batch_hard", "semihard"]
    m = create_miner("SemiHard", margin=0.3, fallback="hardest_beyond", seed=1)
    assert isinstance(m, SemiHardMiner) and m.margin == 0.3 and m.fallback == "hardest_beyond"
    assert isinstance(create_miner("batch_hard"), BatchHardMiner)
    assert create_miner("batch_all", only_active=False).only_active is False
    with pytest.raises(UnknownModelError, match=r"Unknown miner 'semi_hard'\. Did you mean 'semihard'") as e:
        create_miner("semi_hard")
    assert isinstance(e.value, KeyError) and "Known miners: batch_all, batch_hard, semihard." in str(e.value)


def test_argument_validation():
    msg = "The 'margin' parameter of SemiHardMiner must be a float in [0, inf). Got -1 instead."
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        SemiHardMiner(margin=-1)
    for bad in (float("nan"), "0.2", True, float("inf")):
        with pytest.raises(ValueError, match="'margin' parameter of BatchAllMiner"):
            BatchAllMiner(margin=bad)
    with pytest.raises(ValueError, match="The 'fallback' parameter of SemiHardMiner must be one of 'skip', "
                                         "'hardest_beyond'. Got 'hardest' instead."):
        SemiHardMiner(fallback="hardest")
    with pytest.raises(ValueError, match="'seed' parameter"):
        SemiHardMiner(seed=1.5)
    with pytest.raises(ValueError, match=r"The 'seed' parameter of SemiHardMiner must be an int in \[0, inf\) or None. "
                                         "Got -1 instead."):
        SemiHardMiner(seed=-1)
    with pytest.raises(ValueError, match="The 'only_active' parameter of BatchAllMiner must be a bool. Got int 1 instead."):
        BatchAllMiner(only_active=1)
    assert SemiHardMiner(seed=None).seed is None and SemiHardMiner(margin=1).margin == 1.0
    emb, labels = make_batch(0, 6, 2)
    with pytest.raises(ValueError, match="one label per embedding. Got 5 labels for 6"):
        BatchHardMiner()(emb, labels[:5])
    with pytest.raises(ValueError, match="'labels' parameter of SemiHardMiner must be a \\(B,\\) integer"):
        SemiHardMiner()(emb, labels.double())
    with pytest.raises(ValueError, match="'embeddings' parameter of BatchAllMiner must be a \\(B, D\\) float"):
        BatchAllMiner()(emb[0], labels)
    with pytest.raises(ValueError, match="same length"):
        Triplets(torch.zeros(2, dtype=torch.int64), torch.zeros(2, dtype=torch.int64), torch.zeros(1, dtype=torch.int64))
    with pytest.raises(ValueError, match="int64 tensor"):
        Triplets(torch.zeros(2, dtype=torch.int32), torch.zeros(2, dtype=torch.int64), torch.zeros(2, dtype=torch.int64))
    assert len(Triplets.empty()) == 0


# --- pytorch-metric-learning as an oracle ---------------------------------------------------


def pml_triplets(emb, labels, margin, kind):
    import pytorch_metric_learning as pml  # pinned in requirements-dev.txt: imported plainly, never skipped
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.miners import TripletMarginMiner

    assert pml.__version__ == "2.9.0"
    dist = LpDistance(normalize_embeddings=False, p=2, power=2)
    a, p, n = TripletMarginMiner(margin=margin, type_of_triplets=kind, distance=dist)(emb, labels)
    return set(zip(a.tolist(), p.tolist(), n.tolist()))


@pytest.mark.parametrize("margin", MARGINS)
@pytest.mark.parametrize("seed,b,c", CASES)
def test_semihard_candidate_set_equals_pml_semihard(seed, b, c, margin):
    # PML "semihard" = ALL triplets with 0 < d(a,n) - d(a,p) <= margin (one per negative, not
    # one per pair, and a non-strict upper bound): compare it with our full candidate set (ours
    # is strict at d(a,p) + margin, which float64 random points never hit), and check the miner's
    # triplets are a subset of it holding one triplet per pair that has candidates.
    emb, labels = make_batch(seed, b, c)
    anchors, positives, mask = semihard_candidates(emb, labels, margin)
    ours = {(a, p, n) for a, p, row in zip(anchors.tolist(), positives.tolist(), mask) for n in row.nonzero().flatten().tolist()}
    theirs = pml_triplets(emb, labels, margin, "semihard")
    assert ours == theirs and theirs
    mined = as_set(SemiHardMiner(margin, seed=0)(emb, labels))
    assert mined <= theirs and {(a, p) for a, p, _ in mined} == {(a, p) for a, p, _ in theirs}


@pytest.mark.parametrize("margin", MARGINS)
@pytest.mark.parametrize("seed,b,c", CASES)
def test_batch_all_active_equals_pml_all(seed, b, c, margin):
    # PML "all" = triplets with d(a,n) - d(a,p) <= margin, i.e. loss >= 0 (ours: loss > 0; equal
    # loss == 0 needs an exact float tie, absent here). Without the filter: PML's full triplet set.
    emb, labels = make_batch(seed, b, c)
    assert as_set(BatchAllMiner(margin, only_active=True)(emb, labels)) == pml_triplets(emb, labels, margin, "all")
    from pytorch_metric_learning.utils.loss_and_miner_utils import get_all_triplets_indices

    everything = set(zip(*(t.tolist() for t in get_all_triplets_indices(labels))))
    assert as_set(BatchAllMiner(margin, only_active=False)(emb, labels)) == everything


@pytest.mark.parametrize("seed,b,c", CASES)
def test_batch_hard_equals_pml_batch_hard_and_agrees_with_pml_hard(seed, b, c):
    # PML's BatchHardMiner is the same rule (hardest positive, hardest negative per anchor).
    # PML "hard" = ALL triplets with d(a,n) <= d(a,p) (loss >= margin): an anchor has one iff its
    # batch-hard triplet is itself hard, since that triplet maximises d(a,p) - d(a,n).
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.miners import BatchHardMiner as PMLBatchHard

    emb, labels = make_batch(seed, b, c)
    ours = BatchHardMiner()(emb, labels)
    a, p, n = PMLBatchHard(distance=LpDistance(normalize_embeddings=False, p=2, power=2))(emb, labels)
    assert as_list(ours) == list(zip(a.tolist(), p.tolist(), n.tolist()))
    d = pairwise_squared_distances(emb)
    hard_anchors = {a for a, p, n in as_list(ours) if d[a, n] <= d[a, p]}
    assert hard_anchors == {a for a, _, _ in pml_triplets(emb, labels, 0.2, "hard")}
