"""The cannot-link rule: constrained single linkage and the split post-step, against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from facenet.cluster.constraints import check_groups, constrained_union, has_conflicts, split_violations


def _brute_union(n, i, j, d, groups):
    """Textbook: edges shortest first, merge unless the two sets share a photo."""
    sets = [{v} for v in range(n)]
    owner = list(range(n))
    for k in np.argsort(d, kind="stable"):
        a, b = owner[i[k]], owner[j[k]]
        if a == b or {groups[v] for v in sets[a]} & {groups[v] for v in sets[b]}:
            continue
        for v in sets[b]:
            owner[v] = a
        sets[a] |= sets[b]
        sets[b] = set()
    return np.array(owner)


def _same_partition(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return all((a[x] == a[y]) == (b[x] == b[y]) for x in range(len(a)) for y in range(len(a)))


def test_constrained_union_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(2, 14))
        e = int(rng.integers(0, 3 * n))
        i, j = rng.integers(0, n, e), rng.integers(0, n, e)
        d = rng.random(e)
        groups = rng.integers(0, max(1, n // 2), n)
        got = constrained_union(n, i, j, d, groups)
        assert _same_partition(got, _brute_union(n, i, j, d, groups))
        assert not has_conflicts(got, groups).any()


def test_without_shared_photos_it_is_connected_components():
    i, j, d = np.array([0, 1, 3]), np.array([1, 2, 4]), np.array([0.1, 0.2, 0.3])
    got = constrained_union(6, i, j, d, np.arange(6))
    assert _same_partition(got, [0, 0, 0, 1, 1, 2])


def test_refused_merge_keeps_the_closer_pairs():
    # faces 0 and 2 are one photo; 1 is nearer 0 than 2 is, so {0,1} and {2}
    got = constrained_union(3, np.array([0, 1]), np.array([1, 2]), np.array([0.1, 0.5]), np.array([7, 8, 7]))
    assert got[0] == got[1] != got[2]


def test_has_conflicts():
    assert has_conflicts(np.array([0, 0, 1, 1, -1]), np.array([5, 5, 6, 7, 6])).tolist() == [True, False]


def test_split_violations_splits_only_the_bad_cluster():
    rng = np.random.default_rng(1)
    a, b, c = (v / np.linalg.norm(v) for v in rng.normal(size=(3, 16)))
    x = np.stack([a, a + 0.01, b, b + 0.01, c, c + 0.01]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.array([0, 0, 0, 0, 1, 1])  # a wrong merge of a and b
    groups = np.array([0, 1, 0, 2, 3, 4])  # faces 0 (a) and 2 (b) share a photo
    out = split_violations(labels, groups, x)
    assert not has_conflicts(out, groups).any()
    assert out[0] == out[1] != out[2] == out[3]
    assert out[4] == out[5] and out[4] not in (out[0], out[2])
    assert np.array_equal(split_violations(np.array([0, 1, -1]), np.array([0, 0, 0]), x[:3]), [0, 1, -1])


def test_check_groups():
    assert check_groups(None, 3).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="'groups' parameter"):
        check_groups([0.5, 1.0], 2)
    with pytest.raises(ValueError, match="N = 3"):
        check_groups([0, 1], 3)


def test_split_of_a_large_cluster_uses_its_nearest_members(monkeypatch):
    from facenet.cluster import constraints

    monkeypatch.setattr(constraints, "_SPLIT_EXACT", 3)
    rng = np.random.default_rng(2)
    a, b = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 16)))
    x = np.stack([a, a + 0.02, a - 0.02, b, b + 0.02, b - 0.02]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    groups = np.array([0, 1, 2, 0, 4, 5])  # faces 0 (a) and 3 (b) share a photo
    out = split_violations(np.zeros(6, np.int64), groups, x)
    assert not has_conflicts(out, groups).any()
    assert len(set(out[:3].tolist())) == 1 and len(set(out[3:].tolist())) == 1 and out[0] != out[3]
