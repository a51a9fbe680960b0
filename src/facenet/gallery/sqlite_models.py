"""Per-face model identities of the SQLite gallery (a part of
:class:`facenet.gallery.sqlite_store.SQLiteStore`): faces of one model, counts per model, an
upgrade's replaced embeddings and the gallery's new identity."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any, Sequence

import numpy as np

from facenet.gallery.quantize import encode
from facenet.gallery.sqlite_rows import model_ids, models_by_id
from facenet.gallery.store import GalleryError, ModelIdentity, check_subject_name, check_updates
from facenet.validation import check_type


class SQLiteModels:
    """The per-face-model half of SQLiteStore (it provides _read, _write, _require, _bump,
    identity, quantize, location)."""

    identity: ModelIdentity
    quantize: str
    location: str

    def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...  # pragma: no cover - SQLiteStore's

    def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...  # pragma: no cover

    def _require(self, conn: sqlite3.Connection, name: str) -> int: ...  # pragma: no cover

    @staticmethod
    def _bump(conn: sqlite3.Connection) -> None: ...  # pragma: no cover

    def _model_filter(self, conn: sqlite3.Connection, model: ModelIdentity | None) -> tuple[str, tuple[Any, ...]]:
        """(SQL condition on faces f, its parameters) for faces of ``model`` (None: every face)."""
        if model is None:
            return "1", ()
        check_type(model, "model", ModelIdentity, owner="SQLiteStore", what="a ModelIdentity or None")
        row = conn.execute("SELECT id FROM models WHERE identity = ?", (model.key(),)).fetchone()
        return "f.model_id = ?", (-1 if row is None else int(row[0]),)

    def model_counts(self) -> dict[ModelIdentity, int]:
        """Faces per model identity (models without faces left out)."""
        with self._read() as conn:
            models = models_by_id(conn)
            rows = conn.execute("SELECT model_id, COUNT(*) FROM faces GROUP BY model_id ORDER BY model_id").fetchall()
        return {models[int(m)]: int(c) for m, c in rows}

    def face_info(self, face_ids: Sequence[int]) -> dict[int, tuple[str, ModelIdentity]]:
        """face id -> (subject, model) for the ids that exist."""
        ids = [int(i) for i in face_ids]
        out: dict[int, tuple[str, ModelIdentity]] = {}
        with self._read() as conn:
            models = models_by_id(conn)
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                for fid, name, mid in conn.execute("SELECT f.id, s.name, f.model_id FROM faces f JOIN subjects s ON "
                                                   f"s.id = f.subject_id WHERE f.id IN ({','.join('?' * len(chunk))})", chunk):
                    out[int(fid)] = (name, models[int(mid)])
        return out

    def replace_embeddings(self, subject: str, updates: Sequence[tuple[int, np.ndarray]], model: ModelIdentity) -> int:
        """New embeddings by ``model`` for faces of ``subject``, in one transaction (see the contract)."""
        owner = "SQLiteStore.replace_embeddings"
        name = check_subject_name(subject, "subject", owner)
        ids, emb = check_updates(updates, model, self.identity, owner)
        blobs = encode(emb, self.quantize)
        with self._write() as conn:
            sid = self._require(conn, name)
            (mid,) = model_ids(conn, [model])
            n = sum(conn.execute("UPDATE faces SET embedding = ?, model_id = ? WHERE id = ? AND subject_id = ?",
                                 (blob, mid, fid, sid)).rowcount for fid, blob in zip(ids, blobs))
            if n:
                self._bump(conn)
        return n

    def set_identity(self, identity: ModelIdentity) -> None:
        """Make ``identity`` the gallery's model (every face must be its): see the contract."""
        check_type(identity, "identity", ModelIdentity, owner="SQLiteStore.set_identity", what="a ModelIdentity")
        with self._write() as conn:
            (mid,) = model_ids(conn, [identity])
            others = int(conn.execute("SELECT COUNT(*) FROM faces WHERE model_id <> ?", (mid,)).fetchone()[0])
            if others:
                raise GalleryError(f"Cannot make {identity.describe()} the model of {self.location}: {others} face(s) "
                                   "were made by another model (upgrade them first).")
            if identity != self.identity:
                conn.execute("UPDATE meta SET value = ? WHERE key = 'identity'", (identity.key(),))
                self._bump(conn)
        self.identity = identity

