"""The ``graph`` method: a k-NN graph from FAISS, then a partition that obeys the cannot-link rule.

Neighbours (:func:`knn`): FAISS inner product on unit vectors (squared L2 = 2 - 2 cos). Exact
(``IndexFlatIP``) up to ``EXACT_LIMIT`` faces; above it an inverted file (``IndexIVFFlat``,
4 sqrt(N) lists trained on 20 faces per list, 10 k-means iterations, an HNSW coarse quantizer,
``NPROBE`` lists searched), because the exact search is O(N^2): 1,000,000 faces would take most
of an hour on 2 cores. A missed neighbour costs little here: the partition only needs *some*
edge under the threshold between two clusters to consider them, and measures their distance
exactly (``average``).

Partitions of the graph (every one refuses to put two faces of one photo together):

* ``components``: single linkage with cannot-link (:func:`~facenet.cluster.constraints.constrained_union`
  over the edges under the threshold, shortest first).
* ``average`` (the calibrated default): average linkage between clusters joined by a k-NN edge
  under the threshold, with cannot-link. The average squared-L2 distance between two clusters of
  unit vectors is exact from their vector sums (2 - 2 sum_A . sum_B / (|A| |B|)), so each merge is
  tested on all |A||B| pairs, not just the graph's edges: with every pair a candidate this *is*
  average linkage (SciPy's, cut at the threshold; tested), at O(E) memory instead of O(N^2). The
  merging runs in vectorised rounds of reciprocal nearest pairs (:func:`average`).
  Opt-in, the cut can be size-aware (:func:`merge_limit`): the average over the n_a n_b pairs
  between two large clusters is far less noisy than one distance, so two clusters merge under a
  limit that moves from ``single`` (two single faces) to ``threshold`` (many pairs) as n_a n_b
  grows; ``single`` comes from the gallery's impostor model at the number of faces clustered
  (:func:`facenet.cluster.methods.single_threshold`): a face has more strangers to be confused
  with in a larger collection. With a ``cap`` (the fixed rule's threshold) no merge limit is
  looser than the fixed rule's, so the size term only tightens merges of small clusters
  (bench/cluster_RESULTS.md, Session 3; the uncapped rule is opt-in).
  :func:`detach` applies the same capped limit after the merging instead: a face whose average
  distance to the rest of its cluster is at or over the limit for one face joining them leaves
  it (the shipped default: the fixed rule's merges, then the detach step). :func:`attach` is the
  step the other way: a face left alone joins the cluster (of two or more faces, among its
  k-NN neighbours' clusters) whose normalised mean face is within a limit, photo rule kept.
  No pinned library does this: SciPy and scikit-learn need the full distance matrix
  (scikit-learn's ``connectivity`` graph restricts merges but still cannot take a threshold on the
  average at this size, nor cannot-links), and graph libraries with Leiden/Louvain (igraph,
  leidenalg, networkx) are not dependencies; a modularity method has no distance threshold to
  calibrate either.
* ``whispers``: Chinese whispers (Biemann 2006), label propagation on the under-threshold edges
  weighted by ``1 - d / threshold``, in a seeded random node order; no pinned library has it
  (dlib's is not a dependency). Cannot-link by the split post-step
  (:func:`~facenet.cluster.constraints.split_violations`).
"""

from __future__ import annotations

import numpy as np

from facenet.cluster.constraints import constrained_union, split_violations

PARTITIONS = ("average", "components", "whispers")
EXACT_LIMIT = 100_000
NPROBE = 6
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
        quantizer = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)  # assigning 1M faces to lists: cheap
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10
        index.cp.min_points_per_centroid = 16
        rng = np.random.default_rng(seed)
        sample = x[rng.choice(n, min(n, 20 * nlist), replace=False)]
        index.train(sample)
        index.nprobe = NPROBE
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


def merge_limit(threshold: float, single: float | None, power: float, size_a: np.ndarray, size_b: np.ndarray,
                cap: float | None = None) -> np.ndarray:
    """The size-aware merge threshold t(n_a, n_b) = min(cap, threshold + (single - threshold) (n_a n_b)^-power).

    Two single faces must come under ``single`` (one noisy distance); two clusters with many
    pairs between them under a value that tends to ``threshold`` (their average over n_a n_b
    pairs is far less noisy). ``cap`` (None: no cap): no merge limit is ever looser than it, so
    with ``cap`` the fixed rule's threshold the size term can only tighten merges (those of small
    clusters), never loosen those of large ones. ``single`` None: ``threshold`` (capped) for
    every merge. Returns an array shaped like ``size_a``."""
    size_a = np.asarray(size_a, np.float64)
    if single is None:
        t = np.full(size_a.shape, float(threshold))
    else:
        t = threshold + (single - threshold) * (size_a * np.asarray(size_b, np.float64)) ** (-power)
    return t if cap is None else np.minimum(t, float(cap))


def average(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray, threshold: float, groups: np.ndarray,
            embeddings: np.ndarray, *, single: float | None = None, power: float = 1.0, cap: float | None = None) -> np.ndarray:
    """Average linkage between k-NN-adjacent clusters, with cannot-link (module docstring). (N,) labels.

    Two clusters A, B merge when their average distance is under the merge limit: ``threshold``
    (``single`` None: plain average linkage cut at ``threshold``), or the size-aware
    :func:`merge_limit` from ``single`` (two single faces) to ``threshold`` (many pairs), never
    looser than ``cap`` (None: no cap).

    The average squared-L2 distance between two sets of unit vectors is exact from their sums:
    mean_{a in A, b in B} |a - b|^2 = 2 - 2 (sum A . sum B) / (|A| |B|), so every merge is tested
    on the true average over all |A||B| pairs, not only on the graph's edges; the graph only says
    which clusters are candidates (those joined by an edge under the largest limit: an average
    under it needs at least one pair under it).

    Merging runs in rounds, all vectorised: every cluster finds its nearest candidate among the
    pairs under their limit (smallest average minus limit); mutual nearest pairs merge at once
    (the reciprocal-nearest-neighbour scheme: plain average linkage is reducible, so with every
    pair a candidate this gives exactly the sequential algorithm's clusters), except pairs that
    share a photo, whose edges are dropped for good (photo sets only grow). A pair whose average
    is at or over the largest limit is dropped too: the average of a merged cluster is a
    size-weighted mean of its parts', so it can only come under it through a part that is under
    it, and that part has its own edges. A pair under the largest limit but over its own waits:
    it is measured again when one of its clusters grows."""
    top = float(threshold if single is None else max(threshold, single))
    if cap is not None:
        top = min(top, float(cap))
    keep = d < top
    total = embeddings.astype(np.float64)  # row c: the vector sum of cluster c (c: the id of one member)
    size = np.ones(n, np.float64)
    lab = np.arange(n, dtype=np.int64)
    g = np.unique(groups, return_inverse=True)[1].reshape(-1).astype(np.int64) if n else groups
    n_photos = int(g.max()) + 1 if n else 1
    # candidate cluster pairs (a < b), their averages and margins (average - limit): the ready
    # ones (margin < 0) and the waiting ones, which only a merge of one of their clusters changes
    a, b, avg = i[keep], j[keep], d[keep].astype(np.float64)
    margin = avg - merge_limit(threshold, single, power, size[a], size[b], cap)
    w = margin >= 0
    wa, wb, wavg = a[w], b[w], avg[w]
    a, b, avg, margin = a[~w], b[~w], avg[~w], margin[~w]
    while len(a):
        # each cluster's nearest ready candidate, by margin (ties: the smaller id)
        ends, other, both = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([margin, margin])
        low = np.full(n, np.inf)
        np.minimum.at(low, ends, both)
        best = np.full(n, n, np.int64)
        at_low = both == low[ends]
        np.minimum.at(best, ends[at_low], other[at_low])
        mutual = np.flatnonzero((best[a] == b) & (best[b] == a))
        ma, mb = a[mutual], b[mutual]
        # cannot-link: a merge is refused when the two clusters hold one photo
        target = np.arange(n, dtype=np.int64)
        target[mb] = ma
        involved = np.zeros(n, bool)
        involved[ma] = True
        involved[mb] = True
        nodes = np.flatnonzero(involved[lab])
        photo_key, count = np.unique(target[lab[nodes]] * n_photos + g[nodes], return_counts=True)
        bad = np.zeros(n, bool)
        bad[photo_key[count > 1] // n_photos] = True
        refused = np.zeros(len(a), bool)
        refused[mutual[bad[ma]]] = True
        ok = ~bad[ma]
        target[mb[~ok]] = mb[~ok]  # refused: no merge
        ma, mb = ma[ok], mb[ok]
        total[ma] += total[mb]  # the merging pairs are disjoint: plain fancy-index adds are safe
        size[ma] += size[mb]
        lab = target[lab]
        changed = np.zeros(n, bool)
        changed[ma] = True
        changed[mb] = True
        # pairs a merge touched (ready or waiting): renamed to the new clusters, merged ones gone,
        # duplicates joined, averages and margins recomputed; refused pairs dropped for good; the
        # others stay as they are
        hit = changed[a] | changed[b]
        touched, stay = hit & ~refused, ~hit & ~refused
        whit = changed[wa] | changed[wb]
        ta = np.concatenate([target[a[touched]], target[wa[whit]]])
        tb = np.concatenate([target[b[touched]], target[wb[whit]]])
        if whit.any():
            wa, wb, wavg = wa[~whit], wb[~whit], wavg[~whit]
        ta, tb = np.minimum(ta, tb), np.maximum(ta, tb)
        key = np.unique((ta * n + tb)[ta != tb])
        ta, tb = key // n, key % n
        tavg = np.empty(len(ta))
        for s in range(0, len(ta), _BATCH):  # exact averages from the clusters' sums
            r = slice(s, s + _BATCH)
            tavg[r] = 2.0 - 2.0 * np.einsum("ij,ij->i", total[ta[r]], total[tb[r]]) / (size[ta[r]] * size[tb[r]])
        live = tavg < top
        ta, tb, tavg = ta[live], tb[live], tavg[live]
        tm = tavg - merge_limit(threshold, single, power, size[ta], size[tb], cap)
        tw = tm >= 0
        wa, wb, wavg = np.concatenate([wa, ta[tw]]), np.concatenate([wb, tb[tw]]), np.concatenate([wavg, tavg[tw]])
        a = np.concatenate([a[stay], ta[~tw]])
        b = np.concatenate([b[stay], tb[~tw]])
        avg = np.concatenate([avg[stay], tavg[~tw]])
        margin = np.concatenate([margin[stay], tm[~tw]])
    return np.unique(lab, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _cluster_sums(labels: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cluster ids, (N,) index of each face's cluster, (C,) sizes, (C, D) float64 vector sums,
    each face cast exactly) of labels (N,) over x (N, D)."""
    ids, inv, size = np.unique(labels, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    total = np.zeros((len(ids), x.shape[1]))
    np.add.at(total, inv, x)
    return ids, inv, size, total


#: Faces per chunk of :func:`detach` (its float64 work arrays stay ~100 MB at D = 128).
DETACH_CHUNK = 1 << 16


def detach(labels: np.ndarray, embeddings: np.ndarray, threshold: float, single: float, power: float = 1.0,
           cap: float | None = None) -> np.ndarray:
    """Faces that a finished clustering holds against the size-aware limit become single faces.

    labels: (N,) cluster ids >= 0; embeddings: (N, D) unit norm. A face i of a cluster C of n >= 2
    faces leaves it when its average squared-L2 distance to the other n - 1 (exact from the
    cluster's sum: 2 - 2 x_i . (sum C - x_i) / (n - 1)) is at or over
    :func:`merge_limit` (threshold, single, power, 1, n - 1, cap), the limit under which it
    could have joined them as a single face. One pass, every face against its cluster as it
    was; a split never puts two faces of one photo together. Returns (N,) labels."""
    labels = np.asarray(labels, np.int64)
    if len(labels) == 0:
        return labels.copy()
    x = np.asarray(embeddings)
    ids, inv, size, total = _cluster_sums(labels, x)
    m = size[inv]
    out = inv.copy()
    many = m >= 2
    rest = m[many] - 1
    rows = np.flatnonzero(many)
    own = np.empty(len(rows))
    for s in range(0, len(rows), DETACH_CHUNK):  # in chunks: a few float64 copies of all faces cost GBs at 1M
        r = rows[s : s + DETACH_CHUNK]
        xr = x[r].astype(np.float64)
        own[s : s + len(r)] = np.einsum("ij,ij->i", xr, total[inv[r]] - xr)
    own /= rest
    avg = 2.0 - 2.0 * own
    leave = avg >= merge_limit(threshold, single, power, np.ones(len(rest)), rest, cap)
    idx = np.flatnonzero(many)[leave]
    out[idx] = len(ids) + np.arange(len(idx))
    return np.unique(out, return_inverse=True)[1].reshape(-1).astype(np.int64)


def attach(labels: np.ndarray, embeddings: np.ndarray, nbr: np.ndarray, limit: float, groups: np.ndarray) -> np.ndarray:
    """Single faces join the nearest cluster of two or more faces whose mean face is near enough.

    labels: (N,) cluster ids >= 0 of a finished clustering; embeddings: (N, D) unit norm;
    nbr: (N, k) int, each face's k-NN indices (-1 padding), the graph's table: a single face's
    candidates are the clusters of its neighbours; groups: (N,) photo id per face. A single face
    joins the candidate whose normalised mean face (the cluster's vector sum over its norm, as
    it was before this step) is nearest in squared L2, when that distance is under ``limit`` and
    the cluster holds no face of the same photo; of several single faces of one photo bound for
    one cluster, only the nearest joins. One pass, no cascade. Returns (N,) labels."""
    labels = np.asarray(labels, np.int64)
    if len(labels) == 0:
        return labels.copy()
    x = np.asarray(embeddings)
    ids, inv, size, total = _cluster_sums(labels, x)
    norm = np.linalg.norm(total, axis=1)
    centre = (total / np.where(norm > 0, norm, 1.0)[:, None]).astype(np.float32)
    single = np.flatnonzero(size[inv] == 1)
    g = np.asarray(groups, np.int64)
    held = np.unique(g * len(ids) + inv)  # (photo, cluster) pairs present: the cannot-link test
    out = inv.copy()
    chosen: list[np.ndarray] = []
    for s in range(0, len(single), DETACH_CHUNK // 4):  # (rows, k, D) float32 gathers: bounded memory at 1M faces
        r = single[s : s + DETACH_CHUNK // 4]
        nb = np.asarray(nbr[r], np.int64)
        cand = np.where(nb >= 0, inv[np.clip(nb, 0, None)], -1)
        ok = (cand >= 0) & (size[np.clip(cand, 0, None)] >= 2)
        key = g[r][:, None] * len(ids) + np.clip(cand, 0, None)
        ok &= ~np.isin(key, held)
        d = 2.0 - 2.0 * np.einsum("id,ikd->ik", x[r].astype(np.float32), centre[np.clip(cand, 0, None)])
        d = np.where(ok, d, np.inf)
        j = np.argmin(d, axis=1)
        best = d[np.arange(len(r)), j]
        hit = best < limit
        chosen.append(np.stack([r[hit], cand[np.arange(len(r)), j][hit], np.zeros(hit.sum())], 1))
        chosen[-1][:, 2] = best[hit]
    if chosen:
        c = np.concatenate(chosen)
        c = c[np.argsort(c[:, 2], kind="stable")]
        face, to = c[:, 0].astype(np.int64), c[:, 1].astype(np.int64)
        _, first = np.unique(g[face] * len(ids) + to, return_index=True)  # one face per photo and cluster: the nearest
        out[face[first]] = to[first]
    return np.unique(out, return_inverse=True)[1].reshape(-1).astype(np.int64)


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
