"""The cannot-link rule: faces of the same photo never share a cluster.

``groups`` is an (N,) int array, one photo id per face (faces with equal ids are in one photo);
``None`` means every face is its own photo. Two tools enforce the rule:

* :func:`constrained_union`: merge along edges in ascending distance order with a union-find
  that **refuses** a merge joining two components that already hold a face of the same photo
  (single linkage with cannot-link; the graph method's ``components`` partition).
* :func:`split_violations`: the post-step for methods that cannot take constraints (k-means,
  agglomerative, DBSCAN, HDBSCAN, Chinese whispers): every cluster holding two faces of one
  photo is split again by :func:`constrained_union` over its own members' pairwise distances
  (every pair of a cluster up to 2,048 faces, else each member's 32 nearest members), so the
  members that were linked most closely stay together and the faces of one photo end up apart.
  Clusters without a violation are untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_SPLIT_EXACT = 2048
_SPLIT_K = 32


def check_groups(groups: Any, n: int, owner: str = "cluster_embeddings") -> np.ndarray:
    """(N,) int64 photo ids; ``None``: 0..N-1 (every face alone in its photo)."""
    if groups is None:
        return np.arange(n, dtype=np.int64)
    g = np.asarray(groups)
    if g.shape != (n,) or g.dtype.kind not in "iu":
        raise ValueError(f"The 'groups' parameter of {owner} must be an (N,) int array with N = {n}. "
                         f"Got {g.dtype} array of shape {g.shape} instead.")
    return g.astype(np.int64, copy=False)


def has_conflicts(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(C,) bool per cluster id 0..C-1 of ``labels`` (ids >= 0): True where the cluster holds two
    faces of one photo. -1 entries are ignored."""
    keep = labels >= 0
    n_clusters = int(labels.max()) + 1 if keep.any() else 0
    out = np.zeros(n_clusters, bool)
    if not keep.any():
        return out
    lab, grp = labels[keep], groups[keep]
    pair = np.unique(np.stack([lab, grp], 1), axis=0)  # distinct (cluster, photo)
    faces = np.bincount(lab, minlength=n_clusters)
    photos = np.bincount(pair[:, 0], minlength=n_clusters)
    out[:] = faces > photos
    return out


def _find(parent: np.ndarray, x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        parent[x], x = root, parent[x]
    return root


def constrained_union(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Single linkage with cannot-link: (N,) component labels (0..C-1, arbitrary order).

    i, j: (E,) int edge ends; d: (E,) their distances; groups: (N,) photo ids. Edges are taken in
    ascending ``d`` (ties in input order); a merge is refused when the two components share a
    photo. Without any shared photo in a plain connected component the result equals SciPy's
    connected components, which is what runs there (vectorised); only the components that hold a
    repeated photo go through the sequential union-find.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    i = np.asarray(i, np.int64)
    j = np.asarray(j, np.int64)
    if len(i) == 0:
        return np.arange(n, dtype=np.int64)
    graph = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    comp = comp.astype(np.int64)
    bad = has_conflicts(comp, groups)
    if not bad.any():
        return comp
    # sequential union-find restricted to the components with a repeated photo
    in_bad = bad[comp]
    sel = in_bad[i]
    ei, ej, ed = i[sel], j[sel], np.asarray(d)[sel]
    order = np.argsort(ed, kind="stable")
    parent = np.arange(n, dtype=np.int64)
    photos: dict[int, set[int]] = {int(v): {int(groups[v])} for v in np.flatnonzero(in_bad)}
    for a, b in zip(ei[order].tolist(), ej[order].tolist()):
        ra, rb = _find(parent, a), _find(parent, b)
        if ra == rb:
            continue
        pa, pb = photos[ra], photos[rb]
        if len(pa) < len(pb):
            ra, rb, pa, pb = rb, ra, pb, pa
        if not pa.isdisjoint(pb):
            continue
        parent[rb] = ra
        pa |= pb
        del photos[rb]
    bad_idx = np.flatnonzero(in_bad)
    out = comp.copy()
    out[bad_idx] = n + np.array([_find(parent, int(v)) for v in bad_idx], np.int64)  # fresh ids past any comp id
    return np.unique(out, return_inverse=True)[1].reshape(-1).astype(np.int64)


def split_violations(labels: np.ndarray, groups: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Split every cluster holding two faces of one photo (module docstring). labels: (N,) ints,
    -1 kept as is; embeddings: (N, D) float32 unit norm. Returns new (N,) labels (ids renumbered
    0..C-1 in first-seen order of the old ids, -1 kept)."""
    labels = np.asarray(labels, np.int64)
    bad = has_conflicts(labels, groups)
    if not bad.any():
        return labels.copy()
    out = labels.copy()
    next_id = int(labels.max()) + 1
    for c in np.flatnonzero(bad):
        members = np.flatnonzero(labels == c)
        i, j, d = _member_edges(embeddings[members])
        sub = constrained_union(len(members), i, j, d, groups[members])
        out[members] = np.where(sub == 0, c, next_id + sub - 1)
        next_id += int(sub.max())
    keep = out >= 0
    out[keep] = np.unique(out[keep], return_inverse=True)[1].reshape(-1)
    return out


def _member_edges(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (i < j) among one cluster's members with squared-L2 distances: all pairs for a small
    cluster, each member's nearest members for a large one."""
    m = len(x)
    x64 = x.astype(np.float64)
    if m <= _SPLIT_EXACT:
        i, j = np.triu_indices(m, 1)
        d = np.clip(2.0 - 2.0 * np.einsum("ij,ij->i", x64[i], x64[j]), 0.0, 4.0)
        return i, j, d
    import faiss  # exact search inside one cluster (facenet.cluster.graph builds on this module)

    index = faiss.IndexFlatIP(x.shape[1])
    xs = np.ascontiguousarray(x, dtype=np.float32)
    index.add(xs)
    sim, nbr = index.search(xs, _SPLIT_K + 1)
    i = np.repeat(np.arange(m), nbr.shape[1])
    j, d = nbr.reshape(-1), np.clip(2.0 - 2.0 * sim.reshape(-1).astype(np.float64), 0.0, 4.0)
    ok = (j >= 0) & (j != i)
    return np.minimum(i, j)[ok], np.maximum(i, j)[ok], d[ok]
