"""``--update``: new faces join the clusters of the earlier run instead of starting over.

A face joins the existing cluster whose members are nearest on average (the average squared L2
from the face to the cluster's members, ``2 - 2 x . mean(members)`` for unit vectors: the same
criterion the default average-linkage partition cuts at the threshold), when that average is
under the threshold (with the default graph rule: under the limit its detach step sets for one face
against a cluster of that size) and the cluster holds no face of the face's photo (cannot-link). Pairs are
taken nearest first, so of two faces of one new photo that both fit a cluster the nearer joins
and the other tries its next cluster. The faces left over (new ones that fit nowhere, and the
earlier run's unclustered ones) are then clustered among themselves, as new clusters.
"""

from __future__ import annotations

import numpy as np


def cluster_means(x: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """(C, D) mean embedding of each cluster 0..C-1 (not renormalised). x: (N, D) unit norm;
    labels: (N,) int, -1 ignored."""
    keep = labels >= 0
    sums = np.zeros((n_clusters, x.shape[1]), np.float64)
    np.add.at(sums, labels[keep], x[keep].astype(np.float64))
    counts = np.bincount(labels[keep], minlength=n_clusters).astype(np.float64)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


def join_limits(labels_old: np.ndarray, n_clusters: int, threshold: float, single: float, power: float,
                size_limit: float | None) -> np.ndarray:
    """(C,) the average distance under which one new face may join each cluster, by the default
    graph rule's detach step (:func:`facenet.cluster.graph.detach`): the size-aware limit of one
    face against the cluster's n members, ``min(threshold, T + (single - T) n^-power)`` with T
    ``size_limit`` (None: ``threshold``). So a face that joins would not be detached by a fresh run."""
    from facenet.cluster.graph import merge_limit

    keep = labels_old >= 0
    sizes = np.bincount(labels_old[keep], minlength=n_clusters).astype(np.float64)
    t = threshold if size_limit is None else size_limit
    return merge_limit(t, single, power, np.ones(n_clusters), np.maximum(sizes, 1.0), cap=threshold)


def assign_nearest(x_new: np.ndarray, groups_new: np.ndarray, x_old: np.ndarray, labels_old: np.ndarray,
                   groups_old: np.ndarray, threshold: float, n_clusters: int,
                   limits: np.ndarray | None = None) -> np.ndarray:
    """Labels (Q,) for new faces: an existing cluster id 0..C-1, or -1 where none fits.

    x_new: (Q, D) unit norm; groups_new: (Q,) photo ids. x_old, labels_old, groups_old: the
    faces already clustered (labels -1 ignored) and their photo ids (the same id space as
    groups_new). threshold: squared L2 on the average distance to a cluster's members; limits:
    (C,) one such limit per cluster instead (:func:`join_limits`)."""
    q = len(x_new)
    out = np.full(q, -1, np.int64)
    if q == 0 or n_clusters == 0:
        return out
    means = cluster_means(x_old, labels_old, n_clusters)
    avg = 2.0 - 2.0 * (x_new.astype(np.float32) @ means.T)  # (Q, C) average squared L2 to the members
    limit = np.full(n_clusters, float(threshold)) if limits is None else np.asarray(limits, np.float64)
    fi, ci = np.nonzero(avg < limit[None, :])
    order = np.argsort(avg[fi, ci], kind="stable")
    photos: list[set[int]] = [set() for _ in range(n_clusters)]
    for lab, g in zip(labels_old, groups_old):
        if lab >= 0:
            photos[lab].add(int(g))
    for t in order:
        f, c = int(fi[t]), int(ci[t])
        if out[f] >= 0 or int(groups_new[f]) in photos[c]:
            continue
        out[f] = c
        photos[c].add(int(groups_new[f]))
    return out

