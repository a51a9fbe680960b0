"""What the PostgreSQL store tests share: the session's server and database fixtures (from
conftest_pg.py), a fresh gallery per test, and small helpers (SQL on a connection of its own, unit
vectors, SHA-256 of a text)."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Iterator

import conftest_pg
import numpy as np
import pytest

from facenet.gallery.postgres_store import PostgresStore
from facenet.gallery.store import ModelIdentity

pg_server_url, pg_url = conftest_pg.pg_server_url, conftest_pg.pg_url  # the session's server and database (fixtures)

D = 32
IDENTITY = ModelIdentity("sface", "ab" * 32, D, False)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def gallery_name() -> str:
    return "t" + secrets.token_hex(6)


@pytest.fixture
def store(pg_url: str, gallery_name: str) -> Iterator[PostgresStore]:
    s = PostgresStore.create(pg_url, IDENTITY, name=gallery_name)
    yield s
    s.close()


def _sql(url: str, query: str, params: list | None = None, search_path: str | None = None) -> list[tuple]:
    """Run SQL on a connection of its own (the test's view of the database, beside the store's)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if search_path:
            conn.execute(psycopg.sql.SQL("SET search_path TO {}, public").format(psycopg.sql.Identifier(search_path)))
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, D)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
