"""The FAISS search of one :class:`~facenet.gallery.index_state.IndexState` (what
:class:`facenet.gallery.index.FaceIndex` runs under its read lock), and the reduction of face hits
to the best hit per subject."""

from __future__ import annotations

import numpy as np

from facenet.gallery.index_options import IndexOptions
from facenet.gallery.index_state import IndexState

#: Padding distance for missing hits (face id -1): the largest squared L2 distance.
PAD_DISTANCE = 4.0
#: "hnsw_sq8": candidates per hit re-ranked with the float32 vectors.
REFINE = 2


def search_positions(st: IndexState, q: np.ndarray, k: int, options: IndexOptions) -> tuple[np.ndarray, np.ndarray]:
    """q (Q, D) float32 unit norm -> (squared L2 distances (Q, k) ascending, positions (Q, k);
    -1 at distance 4 where fewer were found). Removed positions are never returned (the state's
    selector is passed to FAISS). One search runs ``options.threads`` OpenMP threads."""
    import faiss

    n = st.n_live
    dist = np.full((len(q), k), PAD_DISTANCE, dtype=np.float32)
    pos = np.full((len(q), k), -1, dtype=np.int64)
    if n == 0 or len(q) == 0:
        return dist, pos
    kk = min(k, n)
    # hnsw8: the graph ranks by the raw 8-bit inner product; a few more hits are re-scored exactly
    fetch = min(n, kk + 8) if st.kind == "hnsw8" else kk
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(options.threads)  # this thread's OpenMP setting only; restored
    try:
        if st.kind == "exact":
            params = None if st.selector is None else faiss.SearchParameters(sel=st.selector)
        else:
            params = faiss.SearchParametersHNSW(efSearch=max(options.ef_for(n), REFINE * fetch))
            if st.selector is not None:  # removed faces: skipped by the graph walk
                params.sel = st.selector
            if st.kind == "hnsw_sq8":  # the graph's best REFINE * k, re-ranked with the float32 vectors
                params = faiss.IndexRefineSearchParameters(k_factor=REFINE, base_index_params=params)
        ip, found = st.index.search(q, fetch, params=params)
    finally:
        faiss.omp_set_num_threads(before)
    if st.norms is not None:  # exact scores of the decoded 8-bit faces: codes . q / |codes|
        ip = np.where(found >= 0, ip / st.norms[np.maximum(found, 0)], -np.inf)
        order = np.argsort(-ip, axis=1, kind="stable")[:, :kk]
        ip, found = np.take_along_axis(ip, order, 1), np.take_along_axis(found, order, 1)
    pos[:, :kk] = found
    dist[:, :kk] = np.where(found >= 0, np.clip(2.0 - 2.0 * ip, 0.0, 4.0), PAD_DISTANCE)
    return dist, pos


def best_per_subject(distances: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face-level hits -> the best hit of each subject, the k best subjects per query.

    distances (Q, K) float, labels (Q, K) int subject codes (-1: padding). Returns (distances
    (Q, k), labels (Q, k), columns (Q, k): where in the input each best hit was), ascending by
    distance; -1 labels / columns and distance 4 pad rows with fewer than k subjects."""
    d = np.asarray(distances, dtype=np.float32)
    lab = np.asarray(labels, dtype=np.int64)
    q = len(d)
    out_d = np.full((q, k), PAD_DISTANCE, dtype=np.float32)
    out_l = np.full((q, k), -1, dtype=np.int64)
    out_c = np.full((q, k), -1, dtype=np.int64)
    for r in range(q):
        valid = np.flatnonzero(lab[r] >= 0)
        order = valid[np.argsort(d[r, valid], kind="stable")]
        _, first = np.unique(lab[r, order], return_index=True)
        cols = order[np.sort(first)][:k]
        out_d[r, :len(cols)] = d[r, cols]
        out_l[r, :len(cols)] = lab[r, cols]
        out_c[r, :len(cols)] = cols
    return out_d, out_l, out_c
