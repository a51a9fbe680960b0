"""Where a gallery lives: a file path (SQLite, the embedded default) or a ``postgresql://`` URL
(a server shared by several processes or machines); opening its store and its search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


class FaissSearch:
    """Per-person search over a SQLite gallery with its FAISS index (``<gallery>.faiss``), kept
    in step with the store: the index follows the store's generation (refreshed, or rebuilt from
    the database when it cannot follow)."""

    def __init__(self, store: GalleryStore, path: Path) -> None:
        from facenet.gallery.index import FaceIndex

        self.store = store
        self.index = FaceIndex.open(store, path)

    def __call__(self, q: Any, k: int) -> list[list[tuple[str, float]]]:
        if self.index.generation != self.store.generation():
            self.index.refresh(self.store)
        return [[(h.subject, float(h.distance)) for h in row] for row in self.index.search_subjects(q, k)]


class PgSearch:
    """Per-person search over a PostgreSQL gallery with pgvector's HNSW index in the database."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __call__(self, q: Any, k: int) -> list[list[tuple[str, float]]]:
        return [[(h.subject, float(h.distance)) for h in row] for row in self.store.search_subjects(q, k)]


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
