"""Gallery fixtures. ``store_factory`` runs the contract tests (test_store_contract.py) once per
backend in BACKENDS; adding a backend is one line there (a Backend with a ``create`` and an
``open``, each given the pytest request, so a server fixture can be reached with
``request.getfixturevalue``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from facenet.gallery.sqlite_store import SQLiteStore
from facenet.gallery.store import ModelIdentity, NewFace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest_pg import create_pg_store, open_pg_store, pg_server_url, pg_url  # noqa: E402,F401

#: The identity the tests enrol with: small embeddings keep everything fast.
IDENTITY = ModelIdentity("sface", "ab" * 32, 16, False)


@dataclass(frozen=True)
class Backend:
    """create(request, folder, identity) -> a new empty store; open(request, location, identity) -> the store at
    ``location`` (a store's ``.location``) again, through a new connection."""

    create: Callable[[pytest.FixtureRequest, Path, ModelIdentity], Any]
    open: Callable[[pytest.FixtureRequest, str, ModelIdentity | None], Any]


BACKENDS: dict[str, Backend] = {
    "sqlite": Backend(lambda rq, d, ident: SQLiteStore.create(d / "gallery.db", ident),
                      lambda rq, loc, ident: SQLiteStore.open(loc, ident)),
    "sqlite-int8": Backend(lambda rq, d, ident: SQLiteStore.create(d / "gallery.db", ident, quantize="int8"),
                           lambda rq, loc, ident: SQLiteStore.open(loc, ident)),
    "postgres": Backend(create_pg_store, open_pg_store),  # a real embedded PostgreSQL 18 + pgvector server
}


class StoreFactory:
    """``factory()`` makes a fresh store of the backend; ``factory.reopen(store)`` a second
    connection to it. Every store made is closed after the test. ``exact`` says whether
    embeddings come back bit-exact (not with 8-bit storage); ``tolerance`` is the largest
    per-component difference to expect otherwise."""

    def __init__(self, name: str, backend: Backend, request: pytest.FixtureRequest, folder: Path) -> None:
        self.name, self._backend, self._request, self._folder = name, backend, request, folder
        self.exact = not name.endswith("int8")
        self.tolerance = 0.0 if self.exact else 0.02
        self._made: list[Any] = []
        self._n = 0

    def __call__(self, identity: ModelIdentity = IDENTITY) -> Any:
        self._n += 1
        folder = self._folder / f"store{self._n}"
        folder.mkdir()
        return self._keep(self._backend.create(self._request, folder, identity))

    def reopen(self, store: Any, identity: ModelIdentity | None = None) -> Any:
        return self._keep(self._backend.open(self._request, store.location, identity))

    def _keep(self, store: Any) -> Any:
        self._made.append(store)
        return store

    def close_all(self) -> None:
        for s in self._made:
            s.close()


@pytest.fixture(params=sorted(BACKENDS))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path):
    factory = StoreFactory(request.param, BACKENDS[request.param], request, tmp_path)
    yield factory
    factory.close_all()


def _unit_vectors(n: int, dim: int = IDENTITY.embedding_size, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def identity() -> ModelIdentity:
    return IDENTITY


@pytest.fixture
def unit_vectors() -> Callable[..., np.ndarray]:
    """unit_vectors(n, dim=16, seed=0) -> (n, dim) float32 random unit vectors."""
    return _unit_vectors


@pytest.fixture
def make_faces() -> Callable[..., list[NewFace]]:
    """make_faces(n, seed=0, photos=True, dim=16) -> n NewFaces; face i of seed s has the photo
    SHA-256 f"{s * 1000 + i:064x}" (or "" without photos) and the box (1, 2, 30 + i, 40)."""

    def make(n: int, seed: int = 0, photos: bool = True, dim: int = IDENTITY.embedding_size) -> list[NewFace]:
        emb = _unit_vectors(n, dim, seed)
        return [NewFace(e, f"{seed * 1000 + i:064x}" if photos else "", (1.0, 2.0, 30.0 + i, 40.0), f"photo{i}.jpg")
                for i, e in enumerate(emb)]

    return make
