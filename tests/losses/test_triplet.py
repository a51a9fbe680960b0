"""TripletLoss against hand-computed values, brute force, analytic gradients and pytorch-metric-learning."""

from __future__ import annotations

import math

import pytest
import torch

from facenet.losses import TripletLoss, TripletStats
from facenet.mining import BatchAllMiner, Triplets


def trip(*rows: tuple[int, int, int]) -> Triplets:
    a, p, n = (torch.tensor(list(col), dtype=torch.int64) for col in zip(*rows))
    return Triplets(a, p, n)


def random_batch(seed: int, b: int = 16, d: int = 8, c: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    emb = torch.nn.functional.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)
    return emb, torch.randint(0, c, (b,), generator=g)


# Points with exact squared distances: d(0,1) = 1, d(0,2) = 4, d(0,3) = 1.1^2 = 1.21, d(1,3) = 2.21.
HAND = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, 1.1]], dtype=torch.float64)


def test_hand_computed_values_and_reductions():
    t = trip((0, 1, 2), (0, 3, 1), (1, 0, 3))
    # (0,1,2): [1 - 4 + .2]+ = 0; (0,3,1): [1.21 - 1 + .2]+ = 0.41; (1,0,3): [1 - 2.21 + .2]+ = 0
    for reduction, expected in [("sum", 0.41), ("mean", 0.41 / 3), ("mean_active", 0.41)]:
        loss = TripletLoss(0.2, reduction)(HAND, t)
        assert loss.shape == () and loss.item() == pytest.approx(expected, abs=1e-12)
    loss = TripletLoss(margin=3.5, reduction="mean")(HAND, t)  # all active: 0.5, 3.71, 2.29
    assert loss.item() == pytest.approx((0.5 + 3.71 + 2.29) / 3, abs=1e-12)


def test_equals_brute_force_on_all_triplets():
    emb, labels = random_batch(0)
    t = BatchAllMiner(only_active=False)(emb, labels)
    x = emb.tolist()
    sq = lambda i, j: sum((u - v) ** 2 for u, v in zip(x[i], x[j]))  # noqa: E731
    losses = [max(sq(a, p) - sq(a, n) + 0.2, 0.0) for a, p, n in zip(*(v.tolist() for v in t.as_tuple()))]
    active = [v for v in losses if v > 0]
    assert 0 < len(active) < len(losses)
    assert TripletLoss(0.2, "sum")(emb, t).item() == pytest.approx(sum(losses), rel=1e-12)
    assert TripletLoss(0.2, "mean")(emb, t).item() == pytest.approx(sum(losses) / len(losses), rel=1e-12)
    assert TripletLoss(0.2, "mean_active")(emb, t).item() == pytest.approx(sum(active) / len(active), rel=1e-12)
    loss, stats = TripletLoss(0.2).compute(emb, t)
    assert isinstance(stats, TripletStats) and stats.n_triplets == len(losses) and stats.n_active == len(active)
    assert stats.fraction_active == pytest.approx(len(active) / len(losses))
    d_ap = [sq(a, p) for a, p in zip(t.anchors.tolist(), t.positives.tolist())]
    d_an = [sq(a, n) for a, n in zip(t.anchors.tolist(), t.negatives.tolist())]
    assert stats.mean_d_ap == pytest.approx(sum(d_ap) / len(d_ap)) and stats.mean_d_an == pytest.approx(sum(d_an) / len(d_an))
    assert all(type(v) in (int, float) for v in vars(stats).values())
    assert loss.item() == pytest.approx(sum(losses) / len(losses), rel=1e-12)


def test_gradient_matches_analytic_form():
    emb = HAND.clone().requires_grad_(True)
    # (0,3,1) active: dL/da = 2(n - p), dL/dp = 2(p - a), dL/dn = 2(a - n); (0,1,2) inactive: no gradient.
    TripletLoss(0.2, "sum")(emb, trip((0, 3, 1), (0, 1, 2))).backward()
    a, p, n = HAND[0], HAND[3], HAND[1]
    expected = torch.zeros_like(HAND)
    expected[0], expected[3], expected[1] = 2 * (n - p), 2 * (p - a), 2 * (a - n)
    torch.testing.assert_close(emb.grad, expected)


def test_gradcheck():
    emb, labels = random_batch(1, b=10, d=4, c=3)
    t = BatchAllMiner(margin=0.5, only_active=True)(emb, labels)
    for reduction in ("mean", "mean_active", "sum"):
        loss = TripletLoss(0.5, reduction)
        assert torch.autograd.gradcheck(lambda e: loss(e, t), (emb.clone().requires_grad_(True),))


@pytest.mark.parametrize("reduction", ["mean", "mean_active", "sum"])
def test_zero_triplets_give_connected_zero(reduction):
    emb = torch.randn(6, 4, requires_grad=True)
    loss, stats = TripletLoss(reduction=reduction).compute(emb, Triplets.empty())
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert emb.grad is not None and (emb.grad == 0).all()
    assert stats.n_triplets == stats.n_active == 0 and stats.fraction_active == 0.0 and math.isnan(stats.mean_d_ap)
    # Triplets that are all inactive: mean_active is 0 (not nan), mean divides by the count.
    emb2 = HAND.clone().requires_grad_(True)
    loss = TripletLoss(reduction=reduction)(emb2, trip((0, 1, 2)))
    assert loss.item() == 0.0
    loss.backward()
    assert (emb2.grad == 0).all()


def test_validation():
    with pytest.raises(ValueError, match=r"The 'margin' parameter of TripletLoss must be a float in \[0, inf\). Got -0.1 instead."):
        TripletLoss(margin=-0.1)
    with pytest.raises(ValueError, match="The 'reduction' parameter of TripletLoss must be one of 'mean', 'mean_active', "
                                         "'sum'. Got 'none' instead."):
        TripletLoss(reduction="none")
    with pytest.raises(ValueError, match=r"The 'margin' parameter of TripletLoss must be a float in \[0, inf\). Got inf"):
        TripletLoss(margin=float("inf"))
    assert TripletLoss(margin=1).margin == 1.0 and isinstance(TripletLoss(margin=1).margin, float)
    with pytest.raises(ValueError, match=r"must index rows of the 4 embeddings. Got indices in \[0, 4\]"):
        TripletLoss()(HAND, trip((0, 1, 4)))
    with pytest.raises(ValueError, match="'triplets' parameter of TripletLoss must be a Triplets. Got tuple"):
        TripletLoss()(HAND, (torch.tensor([0]), torch.tensor([1]), torch.tensor([2])))
    with pytest.raises(ValueError, match="'embeddings' parameter of TripletLoss"):
        TripletLoss()(HAND[0], trip((0, 1, 2)))
    assert "margin=0.2, reduction='mean'" in repr(TripletLoss())


@pytest.mark.parametrize(
    "reduction,reducer", [("mean", "MeanReducer"), ("mean_active", "AvgNonZeroReducer"), ("sum", "SumReducer")]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_pml_triplet_margin_loss(seed, reduction, reducer):
    # PML TripletMarginLoss on the same explicit triplets (indices_tuple), with squared L2
    # (LpDistance power=2, no normalisation) and the reducer matching our reduction:
    # MeanReducer = "mean", AvgNonZeroReducer = "mean_active", SumReducer = "sum".
    from pytorch_metric_learning import reducers
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.losses import TripletMarginLoss

    emb, labels = random_batch(seed)
    t = BatchAllMiner(only_active=False)(emb, labels)
    pml = TripletMarginLoss(
        margin=0.2, distance=LpDistance(normalize_embeddings=False, p=2, power=2), reducer=getattr(reducers, reducer)()
    )
    e1, e2 = emb.clone().requires_grad_(True), emb.clone().requires_grad_(True)
    ours, theirs = TripletLoss(0.2, reduction)(e1, t), pml(e2, labels, indices_tuple=t.as_tuple())
    torch.testing.assert_close(ours, theirs)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(e1.grad, e2.grad)
