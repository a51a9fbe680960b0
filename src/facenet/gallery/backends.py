"""Where a gallery lives: a file path (SQLite, the embedded default) or a ``postgresql://`` URL
(a server shared by several processes or machines); opening its store and its search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facenet.gallery.store import GalleryStore, ModelIdentity

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(location: str | Path) -> bool:
    return str(location).startswith(URL_SCHEMES)


def gallery_exists(location: str | Path) -> bool:
    """Whether a gallery is already there (a file that exists; a URL is asked)."""
    if is_url(location):
        from facenet.gallery.postgres_store import PostgresStore

        return PostgresStore.exists(str(location))
    return Path(location).is_file()


def read_identity(location: str | Path) -> ModelIdentity:
    """The model identity stored in an existing gallery."""
    store = open_store(location, None)
    try:
        return store.identity
    finally:
        store.close()


def open_store(location: str | Path, identity: ModelIdentity | None) -> GalleryStore:
    if is_url(location):
        from facenet.gallery.postgres_store import PostgresStore

        return PostgresStore.open(str(location), identity)
    from facenet.gallery.sqlite_store import SQLiteStore

    return SQLiteStore.open(Path(location), identity)


def create_store(location: str | Path, identity: ModelIdentity) -> GalleryStore:
    if is_url(location):
        from facenet.gallery.postgres_store import PostgresStore

        return PostgresStore.create(str(location), identity)
    from facenet.gallery.sqlite_store import SQLiteStore

    Path(location).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStore.create(Path(location), identity)


def exact_face_hits(store: GalleryStore, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact search over every face of ``store``: (squared L2 distances (Q, k), face ids (Q, k),
    -1 padding at distance 4), nearest first. q: (Q, D) float32 unit norm."""
    ids, vecs, _ = store.all_embeddings()
    dist = np.full((len(q), k), 4.0, np.float32)
    out = np.full((len(q), k), -1, np.int64)
    if len(ids):
        d = np.clip(2.0 - 2.0 * np.asarray(q, np.float32) @ vecs.T, 0.0, 4.0)
        order = np.argsort(d, axis=1, kind="stable")[:, :k]
        dist[:, :order.shape[1]] = np.take_along_axis(d, order, axis=1)
        out[:, :order.shape[1]] = ids[order]
    return dist, out


def exact_subject_hits(store: GalleryStore, q: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
    """Exact search over every face of ``store``: per query the k nearest people (name, squared
    L2 distance of their nearest face), nearest first. q: (Q, D) float32 unit norm."""
    from facenet.gallery.index import FaceIndex, IndexOptions

    ids, vecs, names = store.all_embeddings()
    if len(names) == 0:
        return [[] for _ in range(len(q))]
    index = FaceIndex.from_arrays(ids, vecs, names, options=IndexOptions(exact_threshold=len(ids) + 1))  # exact
    return [[(h.subject, float(h.distance)) for h in row] for row in index.search_subjects(q, k)]


class FaissSearch:
    """Per-person search over a SQLite gallery with its FAISS index (``<gallery>.faiss``), kept
    in step with the store: the index follows the store's generation (refreshed, or rebuilt from
    the database when it cannot follow)."""

    def __init__(self, store: GalleryStore, path: Path, options: Any = None) -> None:
        from facenet.gallery.index import FaceIndex

        self.store = store
        self.path = path
        self.index = FaceIndex.open(store, path, options)
        self._unsaved = False

    def follow(self, face_ids: Any, embeddings: Any, subject: str, before: int, after: int) -> bool:
        """Follow this process's own ``add_faces`` (generation ``before`` -> ``after``) in memory
        instead of rebuilding the index at the next search (at a million faces a rebuild takes
        most of an hour); :meth:`flush` saves it. Returns whether it was applied."""
        import numpy as np

        e = np.asarray(embeddings, np.float32).reshape(len(face_ids), self.index.dim)
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), np.float32(1e-12))  # as the store reads it
        applied = self.index.add(face_ids, e, subject, before=before, after=after)
        self._unsaved = self._unsaved or (applied and len(face_ids) > 0)
        return applied

    def flush(self) -> None:
        """Save the index when :meth:`follow` changed it, so the next process opens it from the
        file instead of rebuilding it (a read-only folder only costs that rebuild)."""
        if self._unsaved and self.index.generation == self.store.generation():
            try:
                self.index.save(self.path)
            except OSError:
                pass
        self._unsaved = False

    def _fresh(self) -> Any:
        if self.index.generation != self.store.generation():
            self.index.refresh(self.store)
        return self.index

    def __call__(self, q: Any, k: int) -> list[list[tuple[str, float]]]:
        return [[(h.subject, float(h.distance)) for h in row] for row in self._fresh().search_subjects(q, k)]

    def faces(self, q: Any, k: int) -> tuple[Any, Any]:
        """The k nearest faces: (squared L2 distances (Q, k), face ids (Q, k), -1 padding)."""
        return self._fresh().search(q, k)


class PgSearch:
    """Per-person search over a PostgreSQL gallery with pgvector's HNSW index in the database."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __call__(self, q: Any, k: int) -> list[list[tuple[str, float]]]:
        return [[(h.subject, float(h.distance)) for h in row] for row in self.store.search_subjects(q, k)]

    def faces(self, q: Any, k: int) -> tuple[Any, Any]:
        """The k nearest faces: (squared L2 distances (Q, k), face ids (Q, k), -1 padding)."""
        return self.store.search(q, k)


def search_for(store: GalleryStore, location: str | Path) -> Any:
    """The search of a store: pgvector's own for PostgreSQL, a FAISS index for SQLite."""
    if is_url(location):
        return PgSearch(store)
    from facenet.gallery.index import index_path_for

    return FaissSearch(store, index_path_for(location))


def open_or_create_store(location: str | Path, identity: ModelIdentity) -> GalleryStore:
    """The store at ``location``, created for ``identity`` when missing (race-free between
    processes: one creates, the others open)."""
    if is_url(location):
        from facenet.gallery.postgres_store import PostgresStore

        return PostgresStore.open_or_create(str(location), identity)
    from facenet.gallery.sqlite_store import SQLiteStore

    Path(location).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStore.open_or_create(Path(location), identity)
