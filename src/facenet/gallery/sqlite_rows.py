"""Rows of the SQLite gallery: the face INSERT, boxes as SQL values, subject and model ids, and
face records read back (helpers of :mod:`facenet.gallery.sqlite_store`)."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np

from facenet.gallery.quantize import decode
from facenet.gallery.sqlite_schema import add_model
from facenet.gallery.store import FaceRecord, ModelIdentity

#: Page cache (KiB) for the transaction of a large bulk_add (SQLite's default is 2 MB).
BULK_CACHE_KIB = 256 * 1024
INSERT_FACE = ("INSERT OR IGNORE INTO faces (subject_id, embedding, photo_sha256, x1, y1, x2, y2, source, created, "
               "model_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
#: A face with its subject's name and its model id, as face_records() reads it.
FACE_SQL = ("SELECT f.id, s.name, f.embedding, f.photo_sha256, f.x1, f.y1, f.x2, f.y2, f.source, f.created, f.model_id "
            "FROM faces f JOIN subjects s ON s.id = f.subject_id")


def box_values(box: Sequence[float]) -> tuple[float | None, float | None, float | None, float | None]:
    """A box as four SQL values (NULL for NaN: SQLite has no NaN)."""
    x1, y1, x2, y2 = box
    return (None if x1 != x1 else float(x1), None if y1 != y1 else float(y1),
            None if x2 != x2 else float(x2), None if y2 != y2 else float(y2))


def box_of(row: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in row], dtype=np.float64)


def subject_ids(conn: sqlite3.Connection, names: Sequence[str], chunk: int = 500) -> dict[str, int]:
    """name -> subject id for existing ``names`` (looked up ``chunk`` at a time)."""
    out: dict[str, int] = {}
    for i in range(0, len(names), chunk):
        part = names[i:i + chunk]
        out.update(conn.execute(f"SELECT name, id FROM subjects WHERE name IN ({','.join('?' * len(part))})", part))
    return out


def model_ids(conn: sqlite3.Connection, models: Sequence[ModelIdentity]) -> list[int]:
    """Inside a write transaction: the models-table id of each identity (added when new)."""
    ids: dict[ModelIdentity, int] = {}
    for m in dict.fromkeys(models):
        ids[m] = add_model(conn, m.key())
    return [ids[m] for m in models]


def models_by_id(conn: sqlite3.Connection) -> dict[int, ModelIdentity]:
    """Every identity of the models table, by id."""
    return {int(i): ModelIdentity.from_key(k) for i, k in conn.execute("SELECT id, identity FROM models")}


def face_records(rows: Sequence[Sequence[Any]], models: dict[int, ModelIdentity], dim: int, quantize: str,
                 location: str) -> list[FaceRecord]:
    """FaceRecords of FACE_SQL rows."""
    emb = decode([r[2] for r in rows], dim, quantize, location)
    return [FaceRecord(int(r[0]), r[1], emb[i], r[3], box_of(r[4:8]), r[8], float(r[9]), models.get(int(r[10])))
            for i, r in enumerate(rows)]


@contextmanager
def page_cache(conn: sqlite3.Connection, kib: int) -> Iterator[None]:
    """A page cache of ``kib`` KiB for the block (0: leave it), then the connection's again."""
    if kib <= 0:
        yield
        return
    before = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    conn.execute(f"PRAGMA cache_size = {-int(kib)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {before}")
