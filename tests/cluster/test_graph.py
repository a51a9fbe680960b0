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
