"""Where one cluster divides into two people: for a merged pair of relatives, say.

Inside a cluster, average linkage (SciPy) builds a tree. :func:`two_groups` walks it down from
the root. While one child has fewer than ``min_size`` faces it goes into the larger child: a
stray face is not a second person. It stops at the first node whose two children both have
``min_size`` faces or more. The gap says how clearly those two groups are apart: the mean
squared-L2 distance between them, minus the mean of their own mean within-group distances. Two
tight groups of different people give a large gap. Jeb and George W. Bush on LFW (SFace): within
0.61 and 0.62, between 1.20, gap 0.58. Two halves of one person give a small one.

:func:`facenet.cluster.edit.split_cluster` cuts a clustering run's cluster there on request.
No automatic cut ships: CelebA-wild has no relatives to calibrate a gap on
(bench/cluster_split.py, bench/cluster_RESULTS.md Session 6). :func:`split_labels` is that
automatic cut, for the bench.
"""

from __future__ import annotations

import numpy as np

from facenet.validation import check_scalar


def _within(x: np.ndarray) -> float:
    """Mean squared L2 over the pairs of unit vectors x (n, D), from their sum; 0 for one face."""
    n = len(x)
    if n < 2:
        return 0.0
    t = x.sum(axis=0)
    return float(2.0 - 2.0 * (t @ t - n) / (n * (n - 1)))


def two_groups(x: np.ndarray, min_size: int = 2) -> tuple[np.ndarray, np.ndarray, float]:
    """The two groups a cluster of faces divides into (module docstring).

    x: (n, D) float unit norm, the cluster's faces. min_size: int >= 1, the fewest faces either
    group may have. Returns (first group's row indices (a,) int64, the second's (b,) int64,
    gap float). The first group is the larger, or the one whose smallest index comes first on a
    tie, and a + b <= n: faces hanging above the node belong to neither. With fewer than
    2 min_size faces the result is two empty arrays and a NaN gap."""
    check_scalar(min_size, "min_size", int, min_val=1, owner="two_groups")
    x = np.asarray(x, np.float64)
    empty = np.zeros(0, np.int64)
    if x.ndim != 2 or len(x) < 2 * min_size:
        return empty, empty, float("nan")
    from scipy.cluster.hierarchy import linkage, to_tree
    from scipy.spatial.distance import pdist

    node = to_tree(linkage(pdist(x, "sqeuclidean"), "average"))
    while not node.is_leaf() and min(node.get_left().get_count(), node.get_right().get_count()) < min_size:
        node = max(node.get_left(), node.get_right(), key=lambda c: c.get_count())
    if node.is_leaf():
        return empty, empty, float("nan")
    a = np.sort(np.array(node.get_left().pre_order(), np.int64))
    b = np.sort(np.array(node.get_right().pre_order(), np.int64))
    if (len(b), -b[0]) > (len(a), -a[0]):
        a, b = b, a
    between = 2.0 - 2.0 * float(x[a].sum(axis=0) @ x[b].sum(axis=0)) / (len(a) * len(b))
    return a, b, between - (_within(x[a]) + _within(x[b])) / 2.0


def rank_by_gap(labels: np.ndarray, x: np.ndarray, min_size: int = 2, max_size: int | None = None) -> list[tuple[int, float]]:
    """[(cluster id, gap)] of :func:`two_groups` for every cluster of 2 ``min_size`` to
    ``max_size`` (None: any number of) faces that has two such groups, largest gap first (ties:
    the lower id). labels: (N,) int cluster ids (-1 is left out); x: (N, D) unit norm."""
    labels = np.asarray(labels, np.int64)
    order = np.argsort(labels, kind="stable")
    ids, start, counts = np.unique(labels[order], return_index=True, return_counts=True)
    ranked = []
    for cid, s, n in zip(ids.tolist(), start.tolist(), counts.tolist()):
        if cid < 0 or n < 2 * min_size or (max_size is not None and n > max_size):
            continue
        _, b, gap = two_groups(x[order[s : s + n]], min_size)
        if len(b):
            ranked.append((cid, float(gap)))
    return sorted(ranked, key=lambda t: (-t[1], t[0]))


def split_labels(labels: np.ndarray, x: np.ndarray, min_size: int, gap: float) -> np.ndarray:
    """Cut every cluster where :func:`two_groups` finds a gap of ``gap`` or more, and try both
    parts again. Faces hanging above the cut stay with the first group.

    labels: (N,) int cluster ids (-1 is left alone); x: (N, D) unit norm. Returns (N,) int64
    labels, new clusters numbered after the largest id. A cut never joins faces, so
    cannot-link holds."""
    out = np.asarray(labels, np.int64).copy()
    nxt = int(out.max()) + 1 if len(out) else 0
    ids, counts = np.unique(out[out >= 0], return_counts=True)
    todo = [np.flatnonzero(out == c) for c in ids[counts >= 2 * min_size]]
    while todo:
        s = todo.pop()
        _, b, g = two_groups(x[s], min_size)
        if len(b) and g >= gap:
            out[s[b]] = nxt
            nxt += 1
            todo += [np.setdiff1d(s, s[b]), s[b]]
    return out
