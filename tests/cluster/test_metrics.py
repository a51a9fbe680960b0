"""Clustering metrics against hand-computed values and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from facenet.cluster.metrics import bcubed_prf, clustering_scores, nmi, pairwise_prf

TRUE = [0, 0, 0, 1, 1, 2]
PRED = [0, 0, 1, 1, 1, -1]


def _brute_pairwise(t, p):
    both = pred = true = 0
    for a, b in itertools.combinations(range(len(t)), 2):
        sp = p[a] == p[b] and p[a] != -1
        st = t[a] == t[b]
        pred += sp
        true += st
        both += sp and st
    prec = 1.0 if pred == 0 else both / pred
    rec = 1.0 if true == 0 else both / true
    return prec, rec, 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)


def _brute_bcubed(t, p):
    n = len(t)
    ps, rs = [], []
    for i in range(n):
        c = {j for j in range(n) if (p[j] == p[i] and p[i] != -1) or j == i}
        ll = {j for j in range(n) if t[j] == t[i]}
        ps.append(len(c & ll) / len(c))
        rs.append(len(c & ll) / len(ll))
    prec, rec = np.mean(ps), np.mean(rs)
    return prec, rec, 2 * prec * rec / (prec + rec)


def test_pairwise_hand_computed():
    # true pairs: (0,1) (0,2) (1,2) (3,4); predicted: (0,1) (2,3) (2,4) (3,4); both: (0,1) (3,4)
    assert pairwise_prf(TRUE, PRED) == pytest.approx((0.5, 0.5, 0.5))


def test_bcubed_hand_computed():
    # per-item precision 1, 1, 1/3, 2/3, 2/3, 1 and recall 2/3, 2/3, 1/3, 1, 1, 1: both 7/9
    assert bcubed_prf(TRUE, PRED) == pytest.approx((7 / 9, 7 / 9, 7 / 9))


def test_unclustered_counts_as_singletons():
    every = [-1] * 6
    assert pairwise_prf(TRUE, every) == pytest.approx((1.0, 0.0, 0.0))
    # recall per item = 1 / |its class|: 3 x 1/3 + 2 x 1/2 + 1 = 3, over 6 items
    assert bcubed_prf(TRUE, every) == pytest.approx((1.0, 0.5, 2 / 3))
    # -1 is not one cluster: the same as giving each its own id
    assert nmi(TRUE, every) == pytest.approx(nmi(TRUE, [10, 11, 12, 13, 14, 15]))


def test_perfect_and_string_labels():
    names = ["ann", "ann", "bob", "cy"]
    assert pairwise_prf(names, [5, 5, 1, 2]) == (1.0, 1.0, 1.0)
    assert bcubed_prf(names, [5, 5, 1, 2]) == (1.0, 1.0, 1.0)
    assert nmi(names, [5, 5, 1, 2]) == pytest.approx(1.0)


def test_against_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(1, 12))
        t = rng.integers(0, 4, n).tolist()
        p = rng.integers(-1, 4, n).tolist()
        assert pairwise_prf(t, p) == pytest.approx(_brute_pairwise(t, p))
        assert bcubed_prf(t, p) == pytest.approx(_brute_bcubed(t, p))


def test_nmi_is_sklearns():
    from sklearn.metrics import normalized_mutual_info_score

    assert nmi(TRUE, [0, 0, 1, 1, 1, 2]) == pytest.approx(normalized_mutual_info_score(TRUE, [0, 0, 1, 1, 1, 2]))


def test_scores_dict_and_errors():
    s = clustering_scores(TRUE, PRED)
    assert s["pairwise_f1"] == pytest.approx(0.5) and s["bcubed_f"] == pytest.approx(7 / 9)
    assert s["n_true"] == 3 and s["n_pred"] == 3
    with pytest.raises(ValueError, match="same length"):
        pairwise_prf([0, 1], [0])
    with pytest.raises(ValueError, match="1-D"):
        bcubed_prf([[0, 1]], [[0, 1]])
