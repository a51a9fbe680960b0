"""What a :class:`facenet.gallery.index.FaceIndex` holds in memory (:class:`IndexState`), how it is
built from faces, and how it follows a removal or a relabelling without touching the graph.

Positions 0..N-1 of the FAISS index are faces in ascending face id. A removed face keeps its
position, masked: ``removed[p]`` is True and searches skip it (a FAISS ``IDSelectorBitmap`` over
the live positions, which exact search and the HNSW kinds all take), so a removal costs no
rebuild until removed faces pass :attr:`IndexOptions.max_removed_share` of the positions. Subject
names are labels of positions (``codes``, ``names``): a rename or a merge rewrites labels only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from facenet.gallery.index_file import int8_codes, new_faiss
from facenet.gallery.index_options import IndexOptions

#: Faces added to FAISS per call while a build reports progress.
BUILD_CHUNK = 20_000


@dataclass
class IndexState:
    """index: the FAISS index (positions 0..N-1). ids (N,) int64 ascending face ids, removed
    faces included; codes (N,) int32 subject code per position; names: code -> subject;
    generation: the store's, that this content matches; kind: "exact", "hnsw_sq8", "hnsw8" or
    "hnsw"; norms (N,) float32 |codes| ("hnsw8" only); removed (N,) bool or None (nothing
    removed); m / ef_construction: the graph settings it was built with (None for "exact")."""

    index: Any
    ids: np.ndarray
    codes: np.ndarray
    names: list[str]
    generation: int
    kind: str
    norms: np.ndarray | None = None
    removed: np.ndarray | None = None
    m: int | None = None
    ef_construction: int | None = None
    code_of: dict[str, int] | None = field(default=None, repr=False)  # name -> code; None: made from names
    counts: np.ndarray = field(init=False, repr=False)  # live faces per code
    selector: Any = field(init=False, repr=False)  # faiss.IDSelectorBitmap of the live positions, or None
    _bitmap: Any = field(init=False, repr=False)  # the bitmap's memory, kept alive with the selector
    n_removed: int = field(init=False)  # masked positions
    n_subjects: int = field(init=False)  # subjects with at least one live face

    def __post_init__(self) -> None:
        if self.removed is not None and not self.removed.any():
            self.removed = None
        if self.code_of is None:  # (0.3 s at 400,000 names: passed on by the changes that keep or extend names)
            self.code_of = {n: i for i, n in enumerate(self.names)}
        live = self.codes if self.removed is None else self.codes[~self.removed]
        self.counts = np.bincount(live, minlength=len(self.names)).astype(np.int64)
        self.n_removed = 0 if self.removed is None else int(self.removed.sum())
        self.n_subjects = int(np.count_nonzero(self.counts))  # computed once: searches read it every call
        self.selector = self._bitmap = None
        if self.removed is not None:
            import faiss

            self._bitmap = np.packbits(~self.removed, bitorder="little")
            self.selector = faiss.IDSelectorBitmap(len(self.ids), faiss.swig_ptr(self._bitmap))

    @property
    def n_live(self) -> int:
        return len(self.ids) - self.n_removed

    def live(self) -> np.ndarray:
        """(N,) bool: positions of faces still in the gallery."""
        return np.ones(len(self.ids), bool) if self.removed is None else ~self.removed

    def replace(self, **changes: Any) -> "IndexState":
        """A new state sharing the FAISS index (what a follow publishes; readers keep the old one)."""
        keep = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        if "names" in changes and "code_of" not in changes:
            keep["code_of"] = None
        return IndexState(**{**keep, **changes})


def build_state(ids: np.ndarray, emb: np.ndarray, subjects: Sequence[str], generation: int, options: IndexOptions,
                quantize: str = "none", progress: Callable[[int, int], None] | None = None) -> IndexState:
    """An index of faces ``ids`` (N,) with embeddings ``emb`` (N, D) float32 unit norm and their
    subjects, of the kind ``options`` gives for N faces. progress(done, total) after each chunk
    of BUILD_CHUNK faces (the faces are then added in chunks, not in one call)."""
    subjects = list(subjects)
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
    step = len(ids) if progress is None else BUILD_CHUNK
    for a in range(0, len(ids), max(step, 1)):  # batch work: FAISS's default thread count (OMP_NUM_THREADS)
        index.add(emb[a:a + step])
        if progress is not None:
            progress(min(a + step, len(ids)), len(ids))
    graph = (None, None) if kind == "exact" else (options.m, options.ef_construction)
    return IndexState(index, ids, codes, names, generation, kind, norms, None, *graph, code_of=code_of)


def vectors(st: IndexState, a: int, b: int) -> np.ndarray:
    """(b - a, D) float32: the vectors the index holds at positions a..b-1, as the store gives
    them (an 8-bit gallery's decoded ``codes / |codes|``); exact for every kind (the float32
    copies of "exact", "hnsw" and "hnsw_sq8", the integer codes of "hnsw8")."""
    x = st.index.reconstruct_n(a, b - a)
    return x / st.norms[a:b, None] if st.norms is not None else x


def follow_change(st: IndexState, removed: Sequence[int], relabel: Mapping[str, str], after: int) -> IndexState | None:
    """``st`` after the store removed faces ``removed`` (ids) and moved every face of subject A
    to subject B for each A -> B of ``relabel`` (a rename, or a merge into an existing subject).
    None when a removed id is not a live face of the index (the change is not what it says)."""
    codes, names, dead = st.codes, list(st.names), st.removed
    ids = np.unique(np.asarray(list(removed), dtype=np.int64))
    if len(ids):
        pos = np.searchsorted(st.ids, ids)
        if len(st.ids) == 0 or pos.max() >= len(st.ids) or not (st.ids[pos] == ids).all():
            return None
        dead = np.zeros(len(st.ids), bool) if dead is None else dead.copy()
        if dead[pos].any():
            return None
        dead[pos] = True
    code_of = dict(st.code_of)
    for a, b in relabel.items():
        ca = code_of.get(a)
        if ca is None or a == b:
            continue  # a subject without faces in the index: nothing to relabel
        cb = code_of.get(b)
        if cb is None:  # a rename: the code keeps its faces, under the new name
            names[ca] = b
            del code_of[a]
            code_of[b] = ca
        else:  # into an existing subject: its faces take that subject's code
            codes = codes.copy() if codes is st.codes else codes
            codes[codes == ca] = cb
    return st.replace(codes=codes, names=names, removed=dead, generation=after, code_of=code_of)


def appended(st: IndexState, ids: np.ndarray, emb: np.ndarray, subjects: Sequence[str] | np.ndarray,
              generation: int) -> IndexState:
    """``st`` with faces ``ids`` (ascending, beyond its last) appended to its FAISS index (in
    place: the caller holds the write lock). subjects: a name per face, or int32 codes."""
    names, code_of = st.names, st.code_of
    if isinstance(subjects, np.ndarray):
        codes = subjects.astype(np.int32)
    else:
        if any(s not in code_of for s in subjects):
            names, code_of = list(names), dict(code_of)
        for s in subjects:
            if s not in code_of:
                code_of[s] = len(names)
                names.append(s)
        codes = np.fromiter((code_of[s] for s in subjects), np.int32, len(subjects))
    vectors, norms = int8_codes(emb) if st.norms is not None else (emb, None)
    st.index.add(np.ascontiguousarray(vectors))
    removed = None if st.removed is None else np.concatenate([st.removed, np.zeros(len(ids), bool)])
    return st.replace(ids=np.concatenate([st.ids, ids]), codes=np.concatenate([st.codes, codes]), names=names,
                      code_of=code_of, removed=removed, generation=generation,
                      norms=None if norms is None else np.concatenate([st.norms, norms]))
