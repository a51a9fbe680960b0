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

The database is the source of truth, and the index follows it without rebuilding wherever the
change can be explained (at a million faces a rebuild takes most of an hour):

- enrolments (:meth:`FaceIndex.add`), removals and renames / merges (:meth:`FaceIndex.follow`:
  removed faces are masked at search time, :mod:`facenet.gallery.index_state`; names are labels
  of face ids, so a rename rewrites labels only) of this process, in memory;
- what other processes wrote, and a saved file older than the gallery (:meth:`FaceIndex.sync`,
  :mod:`facenet.gallery.index_sync`): faces appended, removed or relabelled since.

It rebuilds when the change cannot be explained (faces re-embedded, ids out of order), once
removed faces pass ``max_removed_share``, when the gallery crosses the exact threshold, and on
request (:meth:`FaceIndex.reindex`). A saved index (:mod:`facenet.gallery.index_file`) is used
whatever settings it was made with (:meth:`describe` says whether they are the current ones); a
lost, corrupt or foreign file is rebuilt, never fatal.

Threads: any number of threads may search at once; changes take a write lock that waits for
running searches (a rebuild is made outside it, then swapped in). Each search runs ``threads``
OpenMP threads (this thread's setting, restored); 1 by default: a single query gains nothing from
more, and waking an OpenMP team costs more than the search (exact search of 10k-100k faces).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from facenet.gallery import index_file, index_sync
from facenet.gallery.index_file import INDEX_FORMAT, Saved, index_path_for, int8_codes
from facenet.gallery.index_options import IndexOptions
from facenet.gallery.index_search import PAD_DISTANCE, best_per_subject, search_positions
from facenet.gallery.index_state import IndexState, appended, build_state, follow_change
from facenet.gallery.rwlock import ReadWriteLock
from facenet.gallery.store import GalleryStore, ModelIdentity, check_subject_name
from facenet.validation import check_scalar

__all__ = ["INDEX_FORMAT", "PAD_DISTANCE", "FaceIndex", "IndexOptions", "SubjectHit", "best_per_subject", "index_path_for",
           "int8_codes"]

@dataclass(frozen=True)
class SubjectHit:
    """The best face of one subject for a query: squared L2 distance (0..4) and its face id."""

    subject: str
    distance: float
    face_id: int


class FaceIndex:
    """Search over (face id, embedding, subject) triples, labelled with the store generation
    they were read at. Build with :meth:`build` / :meth:`open` (from a store) or
    :meth:`from_arrays`."""

    def __init__(self, state: IndexState, dim: int, options: IndexOptions, identity: ModelIdentity | None = None,
                 gallery_uid: str | None = None, quantize: str = "none") -> None:
        self._state = state
        self.quantize = quantize  # the store's storage: "none" (float32) or "int8" (-> kind "hnsw8" when large)
        self._lock = ReadWriteLock()
        self.dim = dim
        self.options = options
        self.identity = identity
        self.gallery_uid = gallery_uid
        #: "built" or "file": where the current index came from; rebuild_reason says why it was
        #: (re)built; followed, what the last catch-up with the store did without a rebuild.
        self.source = "built"
        self.rebuild_reason: str | None = None
        self.followed: str | None = None
        self.builds = 0  # rebuilds since this object was made (tests and benchmarks count them)
        self.path: Path | None = None  # where open() found or saved it; flush() saves there
        self.file_format: int | None = None  # the format of the file it was read from
        self.unsaved = False  # changed in memory since it was read or saved

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
        state = build_state(ids, emb, list(subjects), int(generation), options, quantize)
        return cls(state, emb.shape[1], options, quantize=quantize, **kwargs)

    @classmethod
    def build(cls, store: GalleryStore, options: IndexOptions | None = None) -> "FaceIndex":
        """An index of every face in ``store`` (the generation is read first, so the label is
        never newer than the content: at worst a needless catch-up later)."""
        generation = store.generation()
        ids, emb, names = store.all_embeddings()
        if len(ids) == 0:
            emb = np.zeros((0, store.identity.embedding_size), dtype=np.float32)
        return cls.from_arrays(ids, emb, names, generation, options, quantize_of(store), identity=store.identity,
                               gallery_uid=store.get_meta("gallery_uid"))

    @classmethod
    def open(cls, store: GalleryStore, path: str | Path | None, options: IndexOptions | None = None,
             save: bool = True) -> "FaceIndex":
        """The saved index at ``path`` when it is this gallery's (caught up with writes made
        since it was saved, :meth:`sync`), else a rebuilt one; saved to ``path`` when it changed
        and ``save``. ``path`` None: always build, never save."""
        options = options or IndexOptions()
        if path is None:
            return cls.build(store, options)
        path = Path(path)
        generation = store.generation()
        quantize = quantize_of(store)
        saved, reason = index_file.load(path, store, generation, quantize)
        if saved is not None:
            state = IndexState(saved.index, saved.ids, saved.codes, saved.names, saved.generation, saved.kind,
                               saved.norms, saved.removed, saved.m, saved.ef_construction)
            index = cls(state, store.identity.embedding_size, options, store.identity, store.get_meta("gallery_uid"),
                        quantize)
            index.source, index.file_format, index.path = "file", saved.format, path
            if saved.generation != generation:
                index.sync(store)
        else:
            index = cls.build(store, options)
            index.rebuild_reason, index.path, index.unsaved = reason, path, True
        if save and index.unsaved:
            try:
                index.save(path)
            except OSError as exc:  # a read-only folder: search still works, from memory
                index.rebuild_reason = f"{index.rebuild_reason or 'changed'}; not saved ({exc.strerror or exc})"
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
        """The faces it finds (removed ones not counted)."""
        return self._state.n_live

    def face_ids(self) -> np.ndarray:
        """(N,) int64 ascending: the faces the index holds (removed ones left out)."""
        st = self._state
        return st.ids[st.live()].copy()

    def subject_of(self, face_ids: Sequence[int] | np.ndarray) -> list[str | None]:
        """The subject of each face id (None for -1, a removed face or an id the index does not hold)."""
        st = self._state
        q = np.asarray(face_ids, dtype=np.int64).reshape(-1)
        pos = np.clip(np.searchsorted(st.ids, q), 0, max(len(st.ids) - 1, 0))
        found = (st.ids[pos] == q) & st.live()[pos] if len(st.ids) else np.zeros(len(q), bool)
        return [st.names[st.codes[p]] if ok else None for p, ok in zip(pos, found)]

    # ---------------------------------------------------------------- search
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """queries (Q, D) float32 unit norm -> (distances (Q, k) float32 squared L2 = 2 - 2 ip,
        clipped to [0, 4], ascending; face ids (Q, k) int64). Missing hits (k > faces, or HNSW
        finding fewer) are face id -1 at distance 4. Removed faces are never returned. Thread-safe."""
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
            n = st.n_live
            codes = np.where(pos >= 0, st.codes[np.maximum(pos, 0)] if len(st.ids) else -1, -1)
            best_d, best_c, best_col = best_per_subject(dist, codes, k)
            again = []
            for row, qi in enumerate(todo):
                hits = [SubjectHit(st.names[c], float(d), int(st.ids[pos[row, col]]))
                        for d, c, col in zip(best_d[row], best_c[row], best_col[row]) if c >= 0]
                if len(hits) < min(k, st.n_subjects) and fetch < n:
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

    def _search_positions(self, queries: np.ndarray, k: int, owner: str) -> tuple[np.ndarray, np.ndarray, IndexState]:
        """(distances (Q, k), positions (Q, k) with -1 padding, the state they refer to)."""
        k = check_scalar(k, "k", int, min_val=1, owner=f"FaceIndex.{owner}")
        q = self._check_queries(queries, owner)
        with self._lock.read():
            st = self._state
            dist, pos = search_positions(st, q, k, self.options)
        return dist, pos, st

    # ---------------------------------------------------------------- following the store
    def add(self, face_ids: Sequence[int] | np.ndarray, embeddings: np.ndarray, subject: str, *, before: int,
            after: int, store: GalleryStore | None = None) -> bool:
        """Follow one ``store.add_faces(subject, ...)`` that returned ``face_ids``, with the store
        generation read just ``before`` and just ``after`` it. The faces are added in memory when
        the index was at ``before`` and the generation moved by exactly that change (+1, or not
        at all for a no-op); otherwise the index catches up with ``store`` (when given, :meth:`sync`). Returns True when it was applied
        incrementally."""
        ids = np.asarray(face_ids, dtype=np.int64).reshape(-1)
        emb = np.asarray(embeddings, dtype=np.float32).reshape(len(ids), self.dim)
        subject = check_subject_name(subject, "subject", "FaceIndex.add")
        with self._lock.write():
            st = self._state
            moved = after - before == (1 if len(ids) else 0)
            crosses = self._crosses(st.n_live, st.n_live + len(ids))
            ordered = len(ids) == 0 or ((np.diff(ids) > 0).all() and (not len(st.ids) or ids[0] > st.ids[-1]))
            if st.generation == before and moved and not crosses and ordered:
                if len(ids):
                    self._state = appended(st, ids, emb, [subject] * len(ids), after)
                    self.unsaved = True
                else:
                    st.generation = after
                return True
        if store is not None:
            self.sync(store)
        return False

    def follow(self, *, before: int, after: int, removed: Sequence[int] = (), relabel: Mapping[str, str] | None = None,
               store: GalleryStore | None = None) -> bool:
        """Follow one store write that took the generation from ``before`` to ``after`` and did
        exactly this: removed the faces ``removed`` (ids) and moved every face of subject A to B
        for each A -> B in ``relabel`` (``rename(A, B)``, or ``merge(A, B)`` with the faces the
        merge dropped in ``removed``). Applied in memory, no rebuild, when the index was at
        ``before`` and ``after`` is ``before + 1`` (or ``before``: nothing changed); otherwise
        it catches up with ``store`` (when given). A rebuild (from ``store``) only once removed
        faces pass ``max_removed_share`` of the positions. Returns True when applied in memory."""
        with self._lock.write():
            st = self._state
            new = None
            if st.generation == before and after in (before, before + 1):
                new = follow_change(st, removed, dict(relabel or {}), after)
            if new is not None:
                why = self._rebuild_reason(new.n_removed, len(new.ids), st.n_live, new.n_live)
                if why is None or store is None:
                    self._state, self.unsaved = new, self.unsaved or after != before
                    return True
        if store is not None:
            if new is not None:
                self._rebuild(store, why)
            else:
                self.sync(store)
        return False

    def sync(self, store: GalleryStore, _tries: int = 3) -> bool:
        """Catch up with ``store``'s faces (writes this index did not follow: other processes, a
        file older than the gallery) without a rebuild where the difference is faces appended,
        removed or relabelled (:mod:`facenet.gallery.index_sync`); otherwise rebuild. Reads every
        face once (seconds at a million, against most of an hour for a rebuild). Returns whether
        the index changed."""
        generation = store.generation()
        if generation == self.generation:
            return False
        ids, emb, names = store.all_embeddings()
        with self._lock.read():
            st = self._state
            plan, why = index_sync.plan(st, ids, emb, names)
        with self._lock.write():
            moved_on = self._state is not st  # another thread's own follow landed meanwhile
            if plan is not None and moved_on:
                why = "the index kept changing while it was compared"
            elif plan is not None:
                n_live = st.n_live - len(plan.removed) + len(plan.add)
                done = why
                why = self._rebuild_reason(st.n_removed + len(plan.removed), len(st.ids) + len(plan.add), st.n_live, n_live)
                if why is None:
                    self._state = index_sync.apply(st, plan, ids, emb, generation)
                    self.followed, self.unsaved = f"caught up with the gallery: {done}", True
                    return True
        if plan is not None and moved_on and _tries > 1:  # compare again
            return self.sync(store, _tries - 1)
        self._rebuild(store, why, (generation, ids, emb, names))
        return True

    def refresh(self, store: GalleryStore, force: bool = False) -> bool:
        """Catch up with ``store`` when its generation differs from the index's (:meth:`sync`),
        or rebuild with ``force``. Searches keep running on the old index meanwhile. Returns
        whether it changed."""
        if force:
            self._rebuild(store, "asked for")
            return True
        return self.sync(store)

    def reindex(self, store: GalleryStore, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Rebuild from ``store`` with the current options (an index file made with other
        settings is otherwise kept as it is), and save it where :meth:`open` found it.
        progress(faces added, total) while the graph is built. Returns :meth:`describe`."""
        self._rebuild(store, "reindex asked for", progress=progress)
        if self.path is not None:
            self.save(self.path)
        return self.describe()

    def _crosses(self, n_before: int, n_after: int) -> bool:
        """Whether growing from n_before to n_after faces crosses the exact-search threshold."""
        return (self.options.kind_for(n_before, self.quantize) == "exact") != \
            (self.options.kind_for(n_after, self.quantize) == "exact")

    def _rebuild_reason(self, n_removed: int, n_positions: int, n_before: int, n_after: int) -> str | None:
        """Why a change taking the index from n_before to n_after live faces (n_removed of its
        n_positions masked) should rebuild it: removed faces past the share, or the exact-search
        threshold crossed (either way). None: follow it."""
        share = n_removed / max(n_positions, 1)
        if share > self.options.max_removed_share:
            return f"removed faces passed {self.options.max_removed_share:.0%} of the index ({share:.1%})"
        if self._crosses(n_before, n_after):
            return f"the gallery crossed the exact-search threshold ({self.options.exact_threshold} faces)"
        return None

    def _rebuild(self, store: GalleryStore, reason: str | None, read: tuple[Any, ...] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        generation, ids, emb, names = read if read is not None else (store.generation(), *store.all_embeddings())
        if len(ids) == 0:
            emb = np.zeros((0, self.dim), np.float32)
        new = build_state(ids, emb, names, generation, self.options, self.quantize, progress)
        with self._lock.write():
            self._state = new
        self.source, self.rebuild_reason, self.followed, self.unsaved = "built", reason, None, True
        self.builds += 1

    # ---------------------------------------------------------------- files
    def save(self, path: str | Path) -> None:
        """Write ``path`` and its sidecar atomically (temporary files, then rename; the sidecar
        last, so a reader sees either the old pair, the new pair, or a checksum mismatch)."""
        import faiss

        with self._lock.read():
            st = self._state
            raw = faiss.serialize_index(st.index)
        meta = {"dim": self.dim, "quantize": self.quantize, "identity": self.identity.to_dict() if self.identity else None,
                "gallery_uid": self.gallery_uid}
        index_file.write(Path(path), Saved(raw, st.ids, st.codes, st.names, st.kind, st.norms, st.removed, st.generation,
                                           st.m, st.ef_construction), meta)
        self.unsaved = self.unsaved and self._state is not st

    def flush(self, store: GalleryStore) -> bool:
        """Save to :attr:`path` when changed in memory and still current with ``store`` (so the
        next process opens it from the file); a read-only folder costs only that. Returns
        whether it saved."""
        if not self.unsaved or self.path is None or self.generation != store.generation():
            return False
        try:
            self.save(self.path)
        except OSError:
            return False
        return True

    def describe(self) -> dict[str, Any]:
        """Size, kind and graph settings of this index, whether they are the current options',
        removed faces still masked, generation, and where it came from (for ``gallery stats``)."""
        st, o = self._state, self.options
        current = o.current(st.kind, st.n_live, self.quantize, st.m, st.ef_construction)
        want = o.kind_for(st.n_live, self.quantize)
        wanted = {"kind": want, **({} if want == "exact" else {"m": o.m, "ef_construction": o.ef_construction})}
        return {"faces": st.n_live, "subjects": st.n_subjects, "kind": st.kind, "m": st.m,
                "ef_construction": st.ef_construction, "current": current, "current_settings": wanted,
                "hint": None if current else "made with other settings than the current ones; it still answers, "
                                             "`facenet gallery G reindex` rebuilds it with the current ones",
                "quantize": self.quantize, "removed": st.n_removed, "removed_share": st.n_removed / max(len(st.ids), 1),
                "max_removed_share": o.max_removed_share, "generation": self.generation, "source": self.source,
                "file_format": self.file_format, "rebuild_reason": self.rebuild_reason, "followed": self.followed,
                "ef_search_used": None if st.kind == "exact" else o.ef_for(st.n_live), "options": asdict(o)}


def quantize_of(store: GalleryStore) -> str:
    """The store's embedding storage: "int8" for an 8-bit gallery, else "none"."""
    return "int8" if store.get_meta("quantize") == "int8" else "none"
