"""The graph method's parts against brute force: k-NN, edges, the partitions."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_helpers import people  # noqa: E402
from cluster_helpers import same_partition as _same_partition  # noqa: E402

from facenet.cluster import graph
from facenet.cluster.constraints import has_conflicts

_people = functools.partial(people, n_people=6, per=5, spread=0.25, dim=16)


def _sq(x):
    x = x.astype(np.float64)
    return np.clip(2 - 2 * x @ x.T, 0, 4)


def test_knn_exact_matches_brute_force():
    x, _ = _people(np.random.default_rng(0))
    nbr, dist = graph.knn(x, 4)
    d = _sq(x)
    np.fill_diagonal(d, np.inf)
    want = np.argsort(d, axis=1)[:, :4]
    assert np.array_equal(np.sort(nbr, 1), np.sort(want, 1))
    assert np.allclose(dist, np.take_along_axis(d, nbr, 1), atol=1e-5)
    assert np.all(np.diff(dist, axis=1) >= -1e-6)
    assert graph.knn(x[:1], 4)[0].shape == (1, 0)


def test_knn_inverted_file_finds_the_near_neighbours():
    x, _ = _people(np.random.default_rng(1), n_people=40, per=6, spread=0.2, dim=32)
    exact, _ = graph.knn(x, 3)
    approx, _ = graph.knn(x, 3, exact_limit=10)  # forces IndexIVFFlat
    recall = np.mean([len(set(a) & set(b)) / 3 for a, b in zip(exact, approx)])
    assert recall > 0.95


def test_knn_edges_are_unique_and_undirected():
    nbr = np.array([[1, 2], [0, 2], [0, -1]])
    dist = np.array([[0.1, 0.3], [0.1, 0.2], [0.3, 4.0]], np.float32)
    i, j, d = graph.knn_edges(nbr, dist)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 2), (1, 2)]
    assert np.all(i < j)


def test_average_with_every_pair_is_scipy_average_linkage():
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(2)
    for t in (0.3, 0.6, 1.0):
        x, _ = _people(rng, n_people=5, per=4, spread=0.35)
        n = len(x)
        i, j, d = graph.knn_edges(*graph.knn(x, n - 1))
        got = graph.average(n, i, j, d, t, np.arange(n), x)
        want = fcluster(linkage(pdist(x.astype(np.float64), "sqeuclidean"), "average"), t, "distance")
        assert _same_partition(got, want)


def test_components_is_single_linkage():
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    x, _ = _people(np.random.default_rng(3), spread=0.4)
    n = len(x)
    i, j, d = graph.knn_edges(*graph.knn(x, n - 1))
    got = graph.components(n, i, j, d, 0.5, np.arange(n))
    want = fcluster(linkage(pdist(x.astype(np.float64), "sqeuclidean"), "single"), 0.5, "distance")
    assert _same_partition(got, want)


def test_every_partition_finds_the_people_and_obeys_cannot_link():
    x, who = _people(np.random.default_rng(4), n_people=4, per=6, spread=0.15)
    n = len(x)
    i, j, d = graph.knn_edges(*graph.knn(x, 8))
    groups = np.arange(n)
    groups[6] = groups[0]  # face 0 (person 0) and face 6 (person 1) in one photo: harmless
    groups[1] = groups[2]  # two faces of person 0 in one photo (a mirror, a poster): must split
    for name, labels in (("components", graph.components(n, i, j, d, 1.0, groups)),
                         ("average", graph.average(n, i, j, d, 1.0, groups, x)),
                         ("whispers", graph.whispers(n, i, j, d, 1.0, groups, x))):
        assert not has_conflicts(labels, groups).any(), name
        assert labels[1] != labels[2], name
        others = np.r_[0, 3:n]
        assert _same_partition(labels[others], who[others]), name


def test_average_merges_along_the_smallest_average_first():
    # a chain 0-1-2 with 0-2 far: single linkage joins all three, average linkage only the close pair
    x = np.array([[1, 0], [np.cos(0.6), np.sin(0.6)], [np.cos(1.3), np.sin(1.3)]], np.float32)
    i, j, d = graph.knn_edges(*graph.knn(x, 2))
    assert len(set(graph.components(3, i, j, d, 0.6, np.arange(3)).tolist())) == 1
    avg = graph.average(3, i, j, d, 0.6, np.arange(3), x)
    assert avg[0] == avg[1] != avg[2]  # 0-1 (0.35) first; then the average to 2 is (1.47 + 0.47) / 2


def test_merge_limit_moves_from_single_to_threshold_with_the_pairs():
    t = graph.merge_limit(1.3, 1.0, 1.0, np.array([1, 1, 2, 10, 1000]), np.array([1, 2, 2, 10, 1000]))
    assert np.allclose(t, [1.0, 1.3 - 0.3 / 2, 1.3 - 0.3 / 4, 1.3 - 0.3 / 100, 1.3 - 0.3 / 1e6])
    assert np.allclose(graph.merge_limit(1.3, 1.0, 0.5, np.array([4]), np.array([1])), 1.3 - 0.3 / 2)
    assert np.allclose(graph.merge_limit(1.3, None, 1.0, np.array([1, 5]), np.array([1, 5])), 1.3)


def test_size_aware_average_equals_plain_when_single_is_the_threshold():
    x, _ = _people(np.random.default_rng(5), n_people=8, per=4, spread=0.4)
    n = len(x)
    i, j, d = graph.knn_edges(*graph.knn(x, 6))
    for t in (0.6, 1.0, 1.4):
        assert np.array_equal(graph.average(n, i, j, d, t, np.arange(n), x, single=t),
                              graph.average(n, i, j, d, t, np.arange(n), x))


def _two_tight_halves_and_two_singles():
    # a person in two tight halves of 5 faces whose average distance is ~1.2, and two lone faces
    # ~1.2 apart, far from the rest: unit vectors in 8-D
    rng = np.random.default_rng(6)
    e = np.eye(8)
    half = np.sqrt(1 - 1.2 / 4)
    c1, c2 = half * e[0] + np.sqrt(1.2) / 2 * e[1], half * e[0] - np.sqrt(1.2) / 2 * e[1]
    s1, s2 = half * e[4] + np.sqrt(1.2) / 2 * e[5], half * e[4] - np.sqrt(1.2) / 2 * e[5]
    x = np.vstack([c1 + 0.02 * rng.normal(size=(5, 8)), c2 + 0.02 * rng.normal(size=(5, 8)), s1, s2])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_size_aware_average_joins_large_clusters_before_single_faces():
    x = _two_tight_halves_and_two_singles()
    n = len(x)
    i, j, d = graph.knn_edges(*graph.knn(x, n - 1))
    g = np.arange(n)
    plain_strict = graph.average(n, i, j, d, 1.0, g, x)
    plain_loose = graph.average(n, i, j, d, 1.3, g, x)
    sized = graph.average(n, i, j, d, 1.3, g, x, single=1.0)
    assert len(set(plain_strict[:10].tolist())) == 2 and plain_strict[10] != plain_strict[11]  # halves apart
    assert len(set(plain_loose[:10].tolist())) == 1 and plain_loose[10] == plain_loose[11]  # lone faces joined
    assert len(set(sized[:10].tolist())) == 1 and sized[10] != sized[11]  # 25 pairs: 1.3 - 0.3 / 25; one pair: 1.0
    assert not set(sized[10:].tolist()) & set(sized[:10].tolist())


def test_capped_merge_limit_against_the_formula_by_hand():
    # t = min(cap, T + (s - T) (n_a n_b)^-p), T 1.4, s 1.0, cap 1.28, p 1: 1x1 -> 1.0; 1x2 -> 1.2;
    # 1x3 -> 1.4 - 0.4 / 3 = 1.2667; 2x2 -> 1.3 -> capped 1.28; 10x10 -> 1.396 -> 1.28
    got = graph.merge_limit(1.4, 1.0, 1.0, np.array([1, 1, 1, 2, 10]), np.array([1, 2, 3, 2, 10]), cap=1.28)
    assert np.allclose(got, [1.0, 1.2, 1.4 - 0.4 / 3, 1.28, 1.28])
    # T under the cap: the cap never binds, the plain size-aware limit is returned
    assert np.allclose(graph.merge_limit(1.2, 0.9, 1.0, np.array([1, 3]), np.array([1, 3]), cap=1.28), [0.9, 1.2 - 0.3 / 9])
    assert np.allclose(graph.merge_limit(1.3, None, 1.0, np.array([1, 5]), np.array([1, 5]), cap=1.1), 1.1)


def test_capped_merge_limit_matches_a_loop():
    rng = np.random.default_rng(7)
    sa, sb = rng.integers(1, 50, 200), rng.integers(1, 50, 200)
    for t, s, p, cap in ((1.4, 0.8, 1.0, 1.28), (1.36, 0.6, 0.5, 1.28), (1.2, 0.9, 2.0, 1.28), (1.5, 1.0, 1.0, 1.0)):
        want = [min(cap, t + (s - t) / (float(a) * float(b)) ** p) for a, b in zip(sa, sb)]
        got = graph.merge_limit(t, s, p, sa, sb, cap=cap)
        assert np.allclose(got, want) and np.all(got <= cap)


def _final_margins_ok(labels, x, groups, threshold, single, power, cap):
    """Brute force: no two final clusters that share no photo are under their merge limit (the
    average over every pair computed directly), so the capped partition stopped where it must."""
    ids = np.unique(labels)
    d = _sq(x)
    for u in ids:
        for v in ids[ids > u]:
            a, b = np.flatnonzero(labels == u), np.flatnonzero(labels == v)
            if set(groups[a].tolist()) & set(groups[b].tolist()):
                continue
            lim = graph.merge_limit(threshold, single, power, np.array([len(a)]), np.array([len(b)]), cap=cap)[0]
            if d[np.ix_(a, b)].mean() < lim - 1e-9:
                return False
    return True


def test_capped_size_aware_average_stops_where_brute_force_says_and_keeps_cannot_link():
    rng = np.random.default_rng(8)
    for trial in range(4):
        x, _ = _people(rng, n_people=5, per=4, spread=0.35)
        n = len(x)
        groups = np.arange(n)
        groups[[1, 2]] = 1  # two faces of person 0 in one photo
        groups[[5, 13]] = 5  # faces of two people in one photo
        i, j, d = graph.knn_edges(*graph.knn(x, n - 1))
        for t, s, cap in ((1.4, 0.7, 1.0), (1.0, 0.5, 1.2), (1.3, 0.9, 0.8)):
            got = graph.average(n, i, j, d, t, groups, x, single=s, power=1.0, cap=cap)
            assert not has_conflicts(got, groups).any()
            assert got[1] != got[2]
            assert _final_margins_ok(got, x, groups, t, s, 1.0, cap), (trial, t, s, cap)
            # every cluster's own pairs: a merge is never made above the cap, so a two-face
            # cluster's one distance is under it
            for u in np.unique(got):
                m = np.flatnonzero(got == u)
                if len(m) == 2:
                    assert _sq(x)[m[0], m[1]] < cap


def test_cap_at_the_threshold_with_single_at_the_threshold_is_scipy_average_linkage():
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(9)
    for t in (0.4, 0.8):
        x, _ = _people(rng, n_people=5, per=4, spread=0.35)
        n = len(x)
        i, j, d = graph.knn_edges(*graph.knn(x, n - 1))
        got = graph.average(n, i, j, d, 1.5, np.arange(n), x, single=t, cap=t)  # every limit is min(t, >= t) = t
        want = fcluster(linkage(pdist(x.astype(np.float64), "sqeuclidean"), "average"), t, "distance")
        assert _same_partition(got, want)


def test_cap_keeps_large_clusters_from_merging_looser_than_it():
    x = _two_tight_halves_and_two_singles()  # halves ~1.2 apart on average, lone faces ~1.2 apart
    n = len(x)
    i, j, d = graph.knn_edges(*graph.knn(x, n - 1))
    g = np.arange(n)
    loose = graph.average(n, i, j, d, 1.4, g, x, single=1.0, cap=1.3)  # halves: min(1.3, 1.4 - 0.4 / 25) > 1.2
    assert len(set(loose[:10].tolist())) == 1 and loose[10] != loose[11]
    tight = graph.average(n, i, j, d, 1.4, g, x, single=1.0, cap=1.1)  # no limit over 1.1: halves stay apart
    assert len(set(tight[:10].tolist())) == 2 and tight[10] != tight[11]
    assert np.array_equal(graph.average(n, i, j, d, 1.4, g, x, single=1.0, cap=4.0),
                          graph.average(n, i, j, d, 1.4, g, x, single=1.0))  # a cap over every limit changes nothing


def test_detach_against_a_loop_over_faces():
    rng = np.random.default_rng(10)
    x, _ = _people(rng, n_people=6, per=5, spread=0.45)
    n = len(x)
    i, j, d = graph.knn_edges(*graph.knn(x, n - 1))
    labels = graph.average(n, i, j, d, 1.2, np.arange(n), x)
    dist = _sq(x)
    for t, s, p, cap in ((1.4, 0.6, 0.5, 1.2), (1.2, 0.9, 2.0, 1.2), (1.0, 0.5, 1.0, None)):
        got = graph.detach(labels, x, t, s, p, cap)
        leave = []
        for f in range(n):
            others = np.flatnonzero((labels == labels[f]) & (np.arange(n) != f))
            if len(others):
                lim = t + (s - t) / float(len(others)) ** p
                lim = lim if cap is None else min(cap, lim)
                if dist[f, others].mean() >= lim - 1e-9:
                    leave.append(f)
        want = labels.copy()
        want[leave] = labels.max() + 1 + np.arange(len(leave))
        assert _same_partition(got, want), (t, s, p, cap)


def test_detach_in_chunks_is_the_same(monkeypatch):
    rng = np.random.default_rng(11)
    x, _ = _people(rng, n_people=8, per=6, spread=0.45)
    n = len(x)
    labels = graph.average(n, *graph.knn_edges(*graph.knn(x, n - 1)), 1.2, np.arange(n), x)
    whole = graph.detach(labels, x, 1.4, 0.6, 0.5, 1.2)
    monkeypatch.setattr(graph, "DETACH_CHUNK", 5)
    assert np.array_equal(graph.detach(labels, x, 1.4, 0.6, 0.5, 1.2), whole)
    assert np.array_equal(graph.detach(labels, x.astype(np.float64), 1.4, 0.6, 0.5, 1.2), whole)


def test_detach_by_hand_and_never_joins_a_photo():
    # two faces 1.0 apart (one cluster): a single-face limit of 0.9 splits them, 1.1 keeps them
    x = np.array([[1, 0, 0], [0.5, np.sqrt(0.75), 0], [0, 0, 1]], np.float32)  # |x0 - x1|^2 = 2 - 2 * 0.5 = 1.0
    labels = np.array([0, 0, 1])
    assert _same_partition(graph.detach(labels, x, 1.3, 0.9), [0, 1, 2])
    assert _same_partition(graph.detach(labels, x, 1.3, 1.1), labels)
    assert _same_partition(graph.detach(labels, x, 1.3, 1.1, cap=0.95), [0, 1, 2])  # the cap binds: 0.95 < 1.1
    x2, _ = _people(np.random.default_rng(11), n_people=4, per=6, spread=0.5)
    groups = np.arange(len(x2))
    groups[[0, 7, 13]] = 0
    i, j, d = graph.knn_edges(*graph.knn(x2, len(x2) - 1))
    lab = graph.average(len(x2), i, j, d, 1.3, groups, x2)
    out = graph.detach(lab, x2, 1.4, 0.5, 0.5, 1.3)
    assert not has_conflicts(out, groups).any()
    assert len(np.unique(out)) >= len(np.unique(lab))
    assert all(len(np.unique(lab[out == u])) == 1 for u in np.unique(out))  # only splits


def _attach_loop(labels, x, nbr, limit, groups):
    """graph.attach by a loop over the single faces (brute force)."""
    size = {c: int(np.sum(labels == c)) for c in np.unique(labels)}
    cands = []
    for f in np.flatnonzero([size[c] == 1 for c in labels]):
        best = (np.inf, -1)
        for c in {int(labels[m]) for m in nbr[f] if m >= 0}:
            members = np.flatnonzero(labels == c)
            if size[c] < 2 or np.any(groups[members] == groups[f]):
                continue
            mean = x[members].astype(np.float64).sum(0)
            d = 2 - 2 * float(x[f] @ (mean / np.linalg.norm(mean)))
            best = min(best, (d, c))
        if best[0] < limit:
            cands.append((best[0], f, best[1]))
    out, taken = labels.copy(), set()
    for d, f, c in sorted(cands):
        if (groups[f], c) not in taken:  # one face of a photo per cluster: the nearest
            taken.add((groups[f], c))
            out[f] = c
    return out


def test_attach_against_a_loop_over_single_faces(monkeypatch):
    rng = np.random.default_rng(12)
    x, person = _people(rng, n_people=8, per=5, spread=1.5)  # 0 / 4 / 6 / 11 / 12 faces join at the limits below
    n = len(x)
    groups = np.arange(n)
    groups[[1, 6, 11, 16]] = 1  # four faces of one photo
    nbr, _ = graph.knn(x, 6)
    labels = np.asarray(person, np.int64).copy()
    alone = rng.choice(n, 12, replace=False)  # a clustering that left 12 faces alone (and two with one face)
    labels[alone] = 100 + np.arange(12)
    labels = np.unique(labels, return_inverse=True)[1]
    for limit in (0.0, 0.8, 1.1, 1.4, 4.0):
        got = graph.attach(labels, x, nbr, limit, groups)
        assert _same_partition(got, _attach_loop(labels, x, nbr, limit, groups)), limit
        assert not has_conflicts(got, groups).any()
    assert _same_partition(graph.attach(labels, x, nbr, 0.0, groups), labels)  # nothing under 0
    monkeypatch.setattr(graph, "DETACH_CHUNK", 8)  # chunks of 2 single faces
    assert np.array_equal(graph.attach(labels, x, nbr, 1.1, groups), graph.attach(labels, x, nbr, 1.1, groups))


def test_attach_by_hand():
    # a pair near (1, 0, 0) and a face 0.6 from their mean; one far face; a face of the pair's photo
    x = np.array([[1, 0, 0], [0.96, 0.28, 0], [0.8, -0.6, 0], [0, 0, 1], [0.99, 0, 0.141]], np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels, nbr = np.array([0, 0, 1, 2, 3]), np.array([[1], [0], [0], [0], [0]])
    groups = np.array([0, 1, 2, 3, 0])  # face 4 is in face 0's photo
    mean = (x[0] + x[1]) / np.linalg.norm(x[0] + x[1])
    d2 = 2 - 2 * float(x[2] @ mean)
    assert _same_partition(graph.attach(labels, x, nbr, d2 + 1e-3, groups), [0, 0, 0, 1, 2])  # 2 joins; 3 too far; 4 cannot
    assert _same_partition(graph.attach(labels, x, nbr, d2 - 1e-3, groups), labels)
    # two single faces of one photo, both near the pair: only the nearer one joins
    y = np.concatenate([x[:2], np.array([[0.9, 0.1, 0.1], [0.95, -0.05, 0.1]], np.float32)])
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    got = graph.attach(np.array([0, 0, 1, 2]), y, np.array([[1], [0], [0], [0]]), 1.0, np.array([0, 1, 2, 2]))
    assert _same_partition(got, [0, 0, 0, 1])  # face 2 is the nearer (0.013 against 0.048)
    assert graph.attach(np.zeros(0, np.int64), np.zeros((0, 3), np.float32), np.zeros((0, 1), np.int64), 1.0, np.zeros(0)).shape == (0,)
