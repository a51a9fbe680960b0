"""facenet.cluster.split: the two groups of a cluster, their gap against a brute-force loop, stray
faces left out of both groups, and the automatic cut of the bench."""

from __future__ import annotations

import numpy as np
import pytest
from tests.cluster.cluster_helpers import people, same_partition

from facenet.cluster.split import rank_by_gap, split_labels, two_groups


def brute_gap(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    def mean(pairs):
        return float(np.mean([np.sum((x[i] - x[j]) ** 2) for i, j in pairs]))

    between = mean([(i, j) for i in a for j in b])
    within = [mean([(i, j) for k, i in enumerate(g) for j in g[k + 1:]]) for g in (a, b)]
    return between - sum(within) / 2


def test_two_people_are_found_with_the_gap_a_loop_gives():
    x, who = people(1, n_people=2, per=6, spread=0.25)
    a, b, gap = two_groups(x, 2)
    assert sorted(a.tolist() + b.tolist()) == list(range(12))
    assert len(set(who[a])) == 1 and len(set(who[b])) == 1 and who[a][0] != who[b][0]
    assert gap == pytest.approx(brute_gap(x.astype(np.float64), a, b), abs=1e-9)


def test_two_people_lie_further_apart_than_two_halves_of_one():
    x, _ = people(2, n_people=2, per=8, spread=0.25)
    one, _ = people(3, n_people=1, per=16, spread=0.25)
    assert two_groups(x, 3)[2] > 0.5 > 3 * two_groups(one, 3)[2]


def test_a_stray_face_is_in_neither_group_and_the_larger_group_comes_first():
    rng = np.random.default_rng(4)
    c0 = rng.normal(size=32)
    c1 = c0 + 0.9 * np.linalg.norm(c0) * rng.normal(size=32) / np.sqrt(32)  # two people, alike but apart
    faces = [c + 0.1 * np.linalg.norm(c) * rng.normal(size=(k, 32)) / np.sqrt(32) for c, k in ((c0, 6), (c1, 4))]
    x = np.vstack([*faces, -(c0 + c1)[None]])  # the stray, opposite both: it joins them last, at the root
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    a, b, gap = two_groups(x, 2)
    assert a.tolist() == list(range(6)) and b.tolist() == list(range(6, 10)) and gap > 0


def test_too_few_faces_give_empty_groups_and_bad_min_size_is_refused():
    x, _ = people(5, n_people=1, per=3)
    a, b, gap = two_groups(x, 2)
    assert a.shape == b.shape == (0,) and a.dtype == np.int64 and np.isnan(gap)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match=r"'min_size' parameter of two_groups must be an int in \[1, inf\)"):
            two_groups(x, bad)


def test_split_labels_recovers_merged_people_and_leaves_the_rest():
    x, who = people(6, n_people=3, per=6, spread=0.2)
    x = np.vstack([x, people(7, n_people=1, per=2)[0]])
    labels = np.r_[np.zeros(18, np.int64), [-1, 5]]
    out = split_labels(labels, x, 2, 0.3)
    assert same_partition(out[:18], who) and out[18] == -1 and out[19] == 5
    assert len(set(out[:18].tolist()) & {-1, 5}) == 0
    assert np.array_equal(split_labels(labels, x, 2, 9.0), labels)  # no gap that large: nothing is cut


def test_rank_by_gap_puts_the_merged_pair_first_and_skips_small_and_large_clusters():
    x2, _ = people(8, n_people=2, per=5, spread=0.2)   # two people in one cluster
    x1, _ = people(9, n_people=1, per=10, spread=0.2)  # one person
    x3, _ = people(10, n_people=1, per=3)              # too small for two groups of two
    x = np.vstack([x1, x2, x3])
    labels = np.r_[np.full(10, 4), np.full(10, 7), np.full(3, 1)]
    ranked = rank_by_gap(labels, x, 2)
    assert [cid for cid, _ in ranked] == [7, 4]
    assert ranked[0][1] == pytest.approx(two_groups(x2, 2)[2]) and ranked[0][1] > ranked[1][1]
    assert rank_by_gap(labels, x, 2, max_size=9) == []
