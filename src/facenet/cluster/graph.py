"""The ``graph`` method: a k-NN graph from FAISS, then a partition that obeys the cannot-link rule.

Neighbours (:func:`knn`): FAISS inner product on unit vectors (squared L2 = 2 - 2 cos). Exact
(``IndexFlatIP``) up to ``EXACT_LIMIT`` faces; above it an inverted file (``IndexIVFFlat``,
about 4 sqrt(N) lists trained on a sample, ``nprobe`` 16), because the exact search is O(N^2)
(1,000,000 faces would take most of an hour on 2 cores, the IVF search takes well under a minute).

Partitions of the graph (every one refuses to put two faces of one photo together):

* ``components``: single linkage with cannot-link (:func:`~facenet.cluster.constraints.constrained_union`
  over the edges under the threshold, shortest first).
* ``average``: average linkage restricted to the k-NN graph: two clusters merge, closest first,
  while the mean squared-L2 distance over the graph edges that join them is under the threshold
  and they share no photo. With every pair in the graph (k >= N - 1) this is exactly
  average linkage (scikit-learn's / SciPy's) with a distance threshold plus cannot-link; with a
  k-NN graph it costs O(E log E) instead of O(N^2) memory and time. Two facts keep it fast: a
  merge needs an edge under the threshold, so it never crosses a connected component of the
  under-threshold graph (components are done one by one), and a component whose edges are all
  under the threshold ends as one cluster (only its cannot-links need the sequential step).
  No pinned library does this: SciPy and scikit-learn need the full distance matrix (or, in
  scikit-learn, a connectivity graph with no threshold on the *average*, and no cannot-link),
  and graph libraries with Leiden/Louvain (igraph, leidenalg, networkx) are not dependencies.
* ``whispers``: Chinese whispers (Biemann 2006), label propagation on the under-threshold edges
  weighted by ``1 - d / threshold``, in a seeded random node order; no pinned library has it
  (dlib's is not a dependency). Cannot-link by the split post-step
  (:func:`~facenet.cluster.constraints.split_violations`).
"""

from __future__ import annotations

import heapq

import numpy as np

from facenet.cluster.constraints import constrained_union, split_violations

PARTITIONS = ("average", "components", "whispers")
EXACT_LIMIT = 100_000
_BATCH = 65_536


def knn(x: np.ndarray, k: int, *, exact_limit: int = EXACT_LIMIT, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest other faces of every face.

    x: (N, D) float32 unit norm. Returns (neighbours (N, k') int64, squared-L2 distances (N, k')
    float32 ascending), k' = min(k, N - 1); an IVF search that finds fewer fills with -1 / 4.0.
    """
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    n, dim = x.shape
    kk = min(k, n - 1)
    if kk <= 0:
        return np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32)
    if n <= exact_limit:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(4 * np.sqrt(n))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = x[rng.choice(n, min(n, 64 * nlist), replace=False)]
        index.train(sample)
        index.nprobe = 16
    index.add(x)
    nbr = np.empty((n, kk), np.int64)
    sim = np.empty((n, kk), np.float32)
    for s in range(0, n, _BATCH):
        q = x[s : s + _BATCH]
        sims, ids = index.search(q, kk + 1)
        own = ids == np.arange(s, s + len(q))[:, None]
        own[~own.any(axis=1), -1] = True  # self not returned (ties, IVF): drop the last instead
        nbr[s : s + len(q)] = ids[~own].reshape(len(q), kk)
        sim[s : s + len(q)] = sims[~own].reshape(len(q), kk)
    dist = np.clip(2.0 - 2.0 * sim, 0.0, 4.0)
    dist[nbr < 0] = 4.0
    return nbr, dist


def knn_edges(nbr: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected edges (i < j, each pair once, the smaller distance kept) of a k-NN table."""
    n = len(nbr)
    i = np.repeat(np.arange(n, dtype=np.int64), nbr.shape[1])
    j = nbr.reshape(-1)
    d = dist.reshape(-1).astype(np.float64)
    ok = (j >= 0) & (j != i)
    a, b, d = np.minimum(i, j)[ok], np.maximum(i, j)[ok], d[ok]
    key = a * n + b
    order = np.lexsort((d, key))
    key, d = key[order], d[order]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    return key[first] // n, key[first] % n, d[first]


def components(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray, threshold: float, groups: np.ndarray) -> np.ndarray:
    """Single linkage with cannot-link over the edges with d < threshold. (N,) labels."""
    keep = d < threshold
    return constrained_union(n, i[keep], j[keep], d[keep], groups)


def average(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray, threshold: float, groups: np.ndarray,
            embeddings: np.ndarray) -> np.ndarray:
    """Average linkage between k-NN-adjacent clusters, with cannot-link (module docstring). (N,) labels.

    The average squared-L2 distance between two sets of unit vectors is exact from their sums:
    mean_{a in A, b in B} |a - b|^2 = 2 - 2 (sum A . sum B) / (|A| |B|), so every merge is tested
    on the true average over all |A||B| pairs, not only on the graph's edges; the graph only says
    which clusters are candidates (those joined by a k-NN edge)."""
    under = d < threshold
    comp = constrained_union(n, i[under], j[under], d[under], np.arange(n))  # plain components
    inside = comp[i] == comp[j]
    size = np.bincount(comp, minlength=int(comp.max()) + 1)
    n_edges = np.bincount(comp[i[inside]], minlength=len(size))
    n_under = np.bincount(comp[i[inside & under]], minlength=len(size))
    # a component whose pairs are all graph edges under the threshold ends as one cluster (minus cannot-links)
    clique = (n_edges == size * (size - 1) // 2) & (n_under == n_edges)
    simple = clique[comp]
    out = comp.copy()
    sel = simple[i] & inside
    out[simple] = n + constrained_union(n, i[sel], j[sel], d[sel], groups)[simple]
    if (~simple).any():
        sel = ~simple[i] & inside
        sub = _agglomerate(n, i[sel], j[sel], d[sel], threshold, groups, embeddings)
        out[~simple] = 3 * n + sub[~simple]
    return np.unique(out, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _agglomerate(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray, threshold: float, groups: np.ndarray,
                 x: np.ndarray) -> np.ndarray:
    """Heap-based average linkage over clusters adjacent in the given edges (exact averages from
    the clusters' vector sums); nodes without edges stay alone. Returns (N,) root ids."""
    parent = np.arange(n, dtype=np.int64)
    nodes = np.unique(np.concatenate([i, j]))
    adj: dict[int, set[int]] = {int(v): set() for v in nodes}
    for a, b in zip(i.tolist(), j.tolist()):
        adj[a].add(b)
        adj[b].add(a)
    photos = {int(v): {int(groups[v])} for v in nodes}
    total = x.astype(np.float64)  # row v: the vector sum of the cluster rooted at v
    size = np.ones(n, np.float64)
    version = np.zeros(n, np.int64)
    under = d < threshold
    heap = list(zip(d[under].tolist(), i[under].tolist(), j[under].tolist(), [0] * int(under.sum()), [0] * int(under.sum())))
    heapq.heapify(heap)
    while heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if version[a] != va or version[b] != vb or a not in adj or b not in adj:
            continue  # stale: one of them has merged since
        pa, pb = photos[a], photos[b]
        if not pa.isdisjoint(pb):
            adj[a].discard(b)  # photo sets only grow: they will never merge
            adj[b].discard(a)
            continue
        if len(adj[a]) < len(adj[b]):
            a, b, pa, pb = b, a, pb, pa
        gone = adj.pop(b)
        keep = adj[a]
        keep.discard(b)
        for c in gone:
            if c != a:
                adj[c].discard(b)
                adj[c].add(a)
                keep.add(c)
        pa |= pb
        del photos[b]
        total[a] += total[b]
        size[a] += size[b]
        parent[b] = a
        version[a] += 1
        if keep:
            cs = np.fromiter(keep, np.int64, len(keep))
            avg = 2.0 - 2.0 * (total[cs] @ total[a]) / (size[cs] * size[a])
            ok = avg < threshold
            va = int(version[a])
            for v, c in zip(avg[ok].tolist(), cs[ok].tolist()):
                heapq.heappush(heap, (v, a, c, va, int(version[c])))
    for v in nodes.tolist():  # flatten
        root = v
        while parent[root] != root:
            root = int(parent[root])
        parent[v] = root
    return parent


def whispers(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray, threshold: float, groups: np.ndarray,
             embeddings: np.ndarray, *, iterations: int = 20, seed: int = 0) -> np.ndarray:
    """Chinese whispers over the under-threshold edges, then the cannot-link split. (N,) labels."""
    keep = d < threshold
    i, j, w = i[keep], j[keep], 1.0 - d[keep] / threshold
    label = np.arange(n, dtype=np.int64)
    if len(i):
        from scipy.sparse import coo_matrix

        m = coo_matrix((np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n)).tocsr()
        indptr, indices, weights = m.indptr, m.indices, m.data
        rng = np.random.default_rng(seed)
        active = np.flatnonzero(np.diff(indptr) > 0)
        for _ in range(iterations):
            changed = 0
            for v in rng.permutation(active).tolist():
                nb = indices[indptr[v] : indptr[v + 1]]
                lab, inv = np.unique(label[nb], return_inverse=True)
                best = lab[np.argmax(np.bincount(inv, weights=weights[indptr[v] : indptr[v + 1]]))]
                if best != label[v]:
                    label[v] = best
                    changed += 1
            if not changed:
                break
    label = np.unique(label, return_inverse=True)[1].reshape(-1).astype(np.int64)
    return split_violations(label, groups, embeddings)
