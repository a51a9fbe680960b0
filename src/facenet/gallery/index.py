"""Nearest-neighbour search over a gallery's faces with FAISS, derived from the store.

Kinds (:meth:`IndexOptions.kind_for`): exact inner-product search (``IndexFlatIP``) below
``exact_threshold`` faces; from there on an HNSW graph walked with 8-bit codes (a quarter of the
memory traffic of float32, so about twice as fast at the same beam width), its hits re-scored
exactly: ``"hnsw_sq8"`` for float32 galleries (``IndexRefineFlat`` over ``IndexHNSWSQ``: the
float32 vectors re-rank the graph's candidates), ``"hnsw8"`` for 8-bit galleries
(``quantize="int8"``: the graph over the gallery's own codes, one byte per value, each hit
re-scored as the store decodes it, ``codes / |codes|``; no float vectors held). ``"hnsw"``
(``IndexHNSWFlat``, float32 vectors throughout) is the previous kind (``hnsw_codes="float32"``).
Embeddings are unit length, so the squared L2 distance is ``2 - 2 * inner product`` (0..4), the
number the rest of facenet uses.

The database is the source of truth. :meth:`FaceIndex.open` uses a saved index only when it was
made from the store's current ``generation`` (and its checksum and settings are right); a lost,
stale or corrupt file is rebuilt, never fatal and never used. The files (``<gallery>.faiss`` and
its sidecar ``<gallery>.faiss.json``) are :mod:`facenet.gallery.index_file`'s.

Threads: any number of threads may call :meth:`search` / :meth:`search_subjects` at once
(concurrent FAISS searches on an index that is not being changed are safe); :meth:`add`,
:meth:`refresh` and rebuilds take a write lock that waits for running searches and holds new
ones back. Each search runs FAISS with ``threads`` OpenMP threads (set for the calling thread
only, and restored); 1 by default: a single query gains nothing from more, and waking an OpenMP
team costs more than the search itself (measured on exact search of 10k-100k faces).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from facenet.gallery import index_file
from facenet.gallery.index_file import INDEX_FORMAT, Saved, index_path_for, int8_codes, new_faiss
from facenet.gallery.index_options import IndexOptions
from facenet.gallery.store import GalleryStore, ModelIdentity, check_subject_name
from facenet.validation import check_scalar

__all__ = ["INDEX_FORMAT", "FaceIndex", "IndexOptions", "SubjectHit", "best_per_subject", "index_path_for", "int8_codes"]

#: Padding distance for missing hits (face id -1): the largest squared L2 distance.
PAD_DISTANCE = 4.0
#: "hnsw_sq8": candidates per hit re-ranked with the float32 vectors.
REFINE = 2


@dataclass(frozen=True)
class SubjectHit:
    """The best face of one subject for a query: squared L2 distance (0..4) and its face id."""

    subject: str
    distance: float
    face_id: int


@dataclass
class _State:
    index: Any  # faiss.Index; positions 0..N-1
    ids: np.ndarray  # (N,) int64 ascending face ids
    codes: np.ndarray  # (N,) int32 subject code per position
    names: list[str]
    generation: int
    kind: str
    norms: np.ndarray | None = None  # (N,) float32 |codes| per position ("hnsw8" only)
    code_of: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.code_of = {n: i for i, n in enumerate(self.names)}


class _ReadWriteLock:
    """Many readers or one writer; a waiting writer holds new readers back."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class FaceIndex:
    """Search over (face id, embedding, subject) triples, labelled with the store generation
    they were read at. Build with :meth:`build` / :meth:`open` (from a store) or
    :meth:`from_arrays`."""

    def __init__(self, state: _State, dim: int, options: IndexOptions, identity: ModelIdentity | None = None,
                 gallery_uid: str | None = None, quantize: str = "none") -> None:
        self._state = state
        self.quantize = quantize  # the store's storage: "none" (float32) or "int8" (-> kind "hnsw8" when large)
        self._lock = _ReadWriteLock()
        self.dim = dim
        self.options = options
        self.identity = identity
        self.gallery_uid = gallery_uid
        #: "built" or "file": where the current index came from; rebuild_reason says why a file was not used.
        self.source = "built"
        self.rebuild_reason: str | None = None

    # ---------------------------------------------------------------- making
    @classmethod
    def from_arrays(cls, face_ids: np.ndarray, embeddings: np.ndarray, subjects: Sequence[str], generation: int = 0,
                    options: IndexOptions | None = None, quantize: str = "none", **kwargs: Any) -> "FaceIndex":
        """face_ids (N,) int, embeddings (N, D) float32 unit norm, subjects: N names. quantize
        "int8": the embeddings are an 8-bit gallery's (decoded), searched as 8-bit codes."""
        options = options or IndexOptions()
        ids = np.asarray(face_ids, dtype=np.int64).reshape(-1)
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or len(emb) != len(ids) or len(subjects) != len(ids):
            raise ValueError(f"from_arrays needs face_ids (N,), embeddings (N, D) and N subjects; got {ids.shape}, "
                             f"{emb.shape} and {len(subjects)}.")
        state = _build_state(ids, emb, list(subjects), int(generation), options, quantize)
        return cls(state, emb.shape[1], options, quantize=quantize, **kwargs)

    @classmethod
    def build(cls, store: GalleryStore, options: IndexOptions | None = None) -> "FaceIndex":
        """An index of every face in ``store`` (the generation is read first, so the label is
        never newer than the content: at worst a needless rebuild later)."""
        generation = store.generation()
        ids, emb, names = store.all_embeddings()
        if len(ids) == 0:
            emb = np.zeros((0, store.identity.embedding_size), dtype=np.float32)
        return cls.from_arrays(ids, emb, names, generation, options, quantize_of(store), identity=store.identity,
                               gallery_uid=store.get_meta("gallery_uid"))

    @classmethod
    def open(cls, store: GalleryStore, path: str | Path | None, options: IndexOptions | None = None,
             save: bool = True) -> "FaceIndex":
        """The saved index at ``path`` when it matches ``store`` now, else a rebuilt one (saved
        to ``path`` when ``save``). ``path`` None: always build, never save."""
        options = options or IndexOptions()
        if path is None:
            return cls.build(store, options)
        path = Path(path)
        generation = store.generation()
        quantize = quantize_of(store)
        saved, reason = index_file.load(path, store, generation, options, quantize)
        if saved is not None:
            index = cls(_State(*saved[:4], generation, saved.kind, saved.norms), store.identity.embedding_size, options,
                        store.identity, store.get_meta("gallery_uid"), quantize)
            index.source = "file"
            return index
        index = cls.build(store, options)
        index.rebuild_reason = reason
        if save:
            try:
                index.save(path)
            except OSError as exc:  # a read-only folder: search still works, from memory
                index.rebuild_reason = f"{reason}; not saved ({exc.strerror or exc})"
        return index

    # ---------------------------------------------------------------- state
    @property
    def generation(self) -> int:
        return self._state.generation

    @property
    def kind(self) -> str:
        """"exact", "hnsw_sq8", "hnsw8" or "hnsw"."""
        return self._state.kind

    def __len__(self) -> int:
        return len(self._state.ids)

    def face_ids(self) -> np.ndarray:
        """(N,) int64 ascending: the faces the index holds."""
        return self._state.ids.copy()

    def subject_of(self, face_ids: Sequence[int] | np.ndarray) -> list[str | None]:
        """The subject of each face id (None for -1 or an id the index does not hold)."""
        st = self._state
        q = np.asarray(face_ids, dtype=np.int64).reshape(-1)
        pos = np.clip(np.searchsorted(st.ids, q), 0, max(len(st.ids) - 1, 0))
        found = (len(st.ids) > 0) & (st.ids[pos] == q) if len(st.ids) else np.zeros(len(q), bool)
        return [st.names[st.codes[p]] if ok else None for p, ok in zip(pos, found)]

    # ---------------------------------------------------------------- search
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """queries (Q, D) float32 unit norm -> (distances (Q, k) float32 squared L2 = 2 - 2 ip,
        clipped to [0, 4], ascending; face ids (Q, k) int64). Missing hits (k > faces, or HNSW
        finding fewer) are face id -1 at distance 4. Thread-safe."""
        dist, pos, st = self._search_positions(queries, k, "search")
        ids = np.where(pos >= 0, st.ids[np.maximum(pos, 0)] if len(st.ids) else -1, -1)
        return dist, ids.astype(np.int64)

    def search_subjects(self, queries: np.ndarray, k: int) -> list[list[SubjectHit]]:
        """The k nearest *subjects* per query (each at the distance of its nearest face), so that
        several photos of one person never fill the list. Fewer than k when the gallery holds
        fewer subjects. Thread-safe."""
        k = check_scalar(k, "k", int, min_val=1, owner="FaceIndex.search_subjects")
        q = self._check_queries(queries, "search_subjects")
        out: list[list[SubjectHit]] = [[] for _ in range(len(q))]
        todo = np.arange(len(q))
        fetch = max(4 * k, 16)
        while len(todo):
            dist, pos, st = self._search_positions(q[todo], fetch, "search_subjects")
            n = len(st.ids)
            codes = np.where(pos >= 0, st.codes[np.maximum(pos, 0)] if n else -1, -1)
            best_d, best_c, best_col = best_per_subject(dist, codes, k)
            again = []
            for row, qi in enumerate(todo):
                hits = [SubjectHit(st.names[c], float(d), int(st.ids[pos[row, col]]))
                        for d, c, col in zip(best_d[row], best_c[row], best_col[row]) if c >= 0]
                if len(hits) < min(k, len(st.names)) and fetch < n:
                    again.append(qi)
                else:
                    out[qi] = hits
            todo = np.array(again, dtype=np.int64)
            fetch = min(fetch * 4, n)
        return out

    def _check_queries(self, queries: np.ndarray, owner: str) -> np.ndarray:
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"The 'queries' parameter of FaceIndex.{owner} must be an array of shape (Q, {self.dim}). "
                             f"Got shape {q.shape} instead.")
        if not np.all(np.isfinite(q)):
            raise ValueError(f"The 'queries' parameter of FaceIndex.{owner} holds NaN or infinite values.")
        return np.ascontiguousarray(q)

    def _search_positions(self, queries: np.ndarray, k: int, owner: str) -> tuple[np.ndarray, np.ndarray, _State]:
        """(distances (Q, k), positions (Q, k) with -1 padding, the state they refer to)."""
        import faiss

        k = check_scalar(k, "k", int, min_val=1, owner=f"FaceIndex.{owner}")
        q = self._check_queries(queries, owner)
        with self._lock.read():
            st = self._state
            n = len(st.ids)
            dist = np.full((len(q), k), PAD_DISTANCE, dtype=np.float32)
            pos = np.full((len(q), k), -1, dtype=np.int64)
            if n == 0 or len(q) == 0:
                return dist, pos, st
            kk = min(k, n)
            # hnsw8: the graph ranks by the raw 8-bit inner product; a few more hits are re-scored exactly
            fetch = min(n, kk + 8) if st.kind == "hnsw8" else kk
            before = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(self.options.threads)  # this thread's OpenMP setting only; restored
            try:
                if st.kind == "exact":
                    ip, found = st.index.search(q, kk)
                else:
                    params = faiss.SearchParametersHNSW(efSearch=max(self.options.ef_for(n), REFINE * fetch))
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
        return dist, pos, st

    # ---------------------------------------------------------------- updating
    def add(self, face_ids: Sequence[int] | np.ndarray, embeddings: np.ndarray, subject: str, *, before: int,
            after: int, store: GalleryStore | None = None) -> bool:
        """Follow one ``store.add_faces(subject, ...)`` that returned ``face_ids``, with the store
        generation read just ``before`` and just ``after`` it. The faces are added in memory when
        the index was at ``before`` and the generation moved by exactly that change (+1, or not
        at all for a no-op); otherwise the index is rebuilt from ``store`` (when given). Returns
        True when it was applied incrementally."""
        ids = np.asarray(face_ids, dtype=np.int64).reshape(-1)
        emb = np.asarray(embeddings, dtype=np.float32).reshape(len(ids), self.dim)
        subject = check_subject_name(subject, "subject", "FaceIndex.add")
        with self._lock.write():
            st = self._state
            expected = before + (1 if len(ids) else 0)
            crosses = st.kind != self.options.kind_for(len(st.ids) + len(ids), self.quantize)
            ordered = len(ids) == 0 or ((np.diff(ids) > 0).all() and (not len(st.ids) or ids[0] > st.ids[-1]))
            if st.generation == before and after == expected and not crosses and ordered:
                if len(ids):
                    code = st.code_of.get(subject)
                    names = st.names if code is not None else st.names + [subject]
                    code = len(st.names) if code is None else code
                    vectors, norms = int8_codes(emb) if st.norms is not None else (emb, None)
                    st.index.add(np.ascontiguousarray(vectors))
                    self._state = _State(st.index, np.concatenate([st.ids, ids]),
                                         np.concatenate([st.codes, np.full(len(ids), code, np.int32)]), names,
                                         after, st.kind, None if norms is None else np.concatenate([st.norms, norms]))
                else:
                    st.generation = after
                return True
        if store is not None:
            self.refresh(store, force=True)
        return False

    def refresh(self, store: GalleryStore, force: bool = False) -> bool:
        """Rebuild from ``store`` when its generation differs from the index's (or ``force``).
        Searches keep running on the old index while the new one is built. Returns whether it
        rebuilt."""
        if not force and store.generation() == self.generation:
            return False
        new = FaceIndex.build(store, self.options)
        with self._lock.write():
            self._state = new._state
        self.source = "built"
        return True

    # ---------------------------------------------------------------- files
    def save(self, path: str | Path) -> None:
        """Write ``path`` and its sidecar atomically (temporary files, then rename; the sidecar
        last, so a reader sees either the old pair, the new pair, or a checksum mismatch)."""
        import faiss

        with self._lock.read():
            st = self._state
            raw = faiss.serialize_index(st.index)
        meta = {"generation": st.generation, "dim": self.dim, "m": self.options.m,
                "ef_construction": self.options.ef_construction, "quantize": self.quantize,
                "identity": self.identity.to_dict() if self.identity else None, "gallery_uid": self.gallery_uid}
        index_file.write(Path(path), Saved(raw, st.ids, st.codes, st.names, st.kind, st.norms), meta)

    def describe(self) -> dict[str, Any]:
        """Size, kind, generation, settings and where it came from (for ``gallery stats``)."""
        return {"faces": len(self), "subjects": len(self._state.names), "kind": self.kind, "quantize": self.quantize,
                "generation": self.generation, "source": self.source, "rebuild_reason": self.rebuild_reason,
                **asdict(self.options), "ef_search_used": self.options.ef_for(len(self))}


def quantize_of(store: GalleryStore) -> str:
    """The store's embedding storage: "int8" for an 8-bit gallery, else "none"."""
    return "int8" if store.get_meta("quantize") == "int8" else "none"


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


def _build_state(ids: np.ndarray, emb: np.ndarray, subjects: list[str], generation: int, options: IndexOptions,
                 quantize: str = "none") -> _State:
    order = np.argsort(ids, kind="stable")
    ids, emb = ids[order], np.ascontiguousarray(emb[order])
    if len(ids) > 1 and not (np.diff(ids) > 0).all():
        raise ValueError("from_arrays needs distinct face ids.")
    names = sorted(set(subjects))
    code_of = {n: i for i, n in enumerate(names)}
    codes = np.fromiter((code_of[subjects[i]] for i in order), dtype=np.int32, count=len(ids))
    kind = options.kind_for(len(ids), quantize)
    norms = None
    if kind == "hnsw8":
        emb, norms = int8_codes(emb)
    index = new_faiss(emb.shape[1], kind, options, emb)
    if len(ids):
        index.add(emb)  # batch work: FAISS's default thread count (OMP_NUM_THREADS)
    return _State(index, ids, codes, names, generation, kind, norms)
