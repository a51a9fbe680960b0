"""Per-face model identities of the PostgreSQL gallery (a part of
:class:`facenet.gallery.postgres_store.PostgresStore`): every face or the faces of one model,
a seeded sample, counts per model, an upgrade's replaced embeddings and the gallery's new
identity."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any, Sequence

import numpy as np

from facenet.gallery import pg_schema as schema_mod
from facenet.gallery.pg_schema import Vec
from facenet.gallery.store import GalleryError, ModelIdentity, check_subject_name, check_updates, sample_face_ids
from facenet.validation import check_type

_EMB_SQL = "SELECT f.id, f.embedding, s.name FROM faces f JOIN subjects s ON s.id = f.subject_id"


class PostgresModels:
    """The per-face-model half of PostgresStore (it provides _tx, _bump, _subject_id, identity,
    location)."""

    identity: ModelIdentity
    location: str

    def _tx(self, write: bool = False, atomic: bool = True) -> AbstractContextManager[Any]: ...  # pragma: no cover

    @staticmethod
    def _bump(conn: Any) -> None: ...  # pragma: no cover

    @staticmethod
    def _subject_id(conn: Any, name: str, missing_ok: bool = False) -> int | None: ...  # pragma: no cover

    @staticmethod
    def _model_filter(conn: Any, model: ModelIdentity | None) -> tuple[str, list[Any]]:
        """(SQL condition on faces f, its parameters) for faces of ``model`` (None: every face)."""
        if model is None:
            return "true", []
        check_type(model, "model", ModelIdentity, owner="PostgresStore", what="a ModelIdentity or None")
        row = conn.execute("SELECT id FROM models WHERE identity = %s", [model.key()]).fetchone()
        return "f.model_id = %s", [-1 if row is None else int(row[0])]

    def _arrays(self, rows: list[tuple[Any, ...]]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        d = self.identity.embedding_size
        vecs = np.stack([r[1] for r in rows]) if rows else np.zeros((0, d), np.float32)
        return np.fromiter((r[0] for r in rows), np.int64, len(rows)), vecs, [r[2] for r in rows]

    def all_embeddings(self, model: ModelIdentity | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        with self._tx() as conn, conn.cursor(binary=True) as cur:
            cond, args = self._model_filter(conn, model)
            rows = cur.execute(f"{_EMB_SQL} WHERE {cond} ORDER BY f.id", args).fetchall()
        return self._arrays(rows)

    def sample_embeddings(self, n: int, seed: int = 0,
                          model: ModelIdentity | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """At most ``n`` faces, a seeded sample (all when there are no more): see the store contract."""
        with self._tx() as conn, conn.cursor(binary=True) as cur:
            cond, args = self._model_filter(conn, model)
            lo, hi, count = cur.execute(f"SELECT min(id), max(id), count(*) FROM faces f WHERE {cond}", args).fetchone()
            ids = sample_face_ids(int(lo or 0), int(hi or 0), int(count), n, seed)
            if ids is None:
                rows = cur.execute(f"{_EMB_SQL} WHERE {cond} ORDER BY f.id", args).fetchall()
            else:
                rows = cur.execute(f"{_EMB_SQL} WHERE f.id = ANY(%s) AND {cond} ORDER BY f.id", [ids, *args]).fetchall()[:n]
        return self._arrays(rows)

    def model_counts(self) -> dict[ModelIdentity, int]:
        """Faces per model identity (models without faces left out)."""
        with self._tx() as conn:
            rows = conn.execute("SELECT m.identity, count(*) FROM faces f JOIN models m ON m.id = f.model_id "
                                "GROUP BY m.id ORDER BY m.id").fetchall()
        return {ModelIdentity.from_key(k): int(c) for k, c in rows}

    def face_info(self, face_ids: Sequence[int]) -> dict[int, tuple[str, ModelIdentity]]:
        """face id -> (subject, model) for the ids that exist."""
        ids = [int(i) for i in face_ids]
        if not ids:
            return {}
        with self._tx() as conn:
            rows = conn.execute("SELECT f.id, s.name, m.identity FROM faces f JOIN subjects s ON s.id = f.subject_id "
                                "JOIN models m ON m.id = f.model_id WHERE f.id = ANY(%s::bigint[])", [ids]).fetchall()
        return {int(fid): (name, ModelIdentity.from_key(k)) for fid, name, k in rows}

    def replace_embeddings(self, subject: str, updates: Sequence[tuple[int, np.ndarray]], model: ModelIdentity) -> int:
        """New embeddings by ``model`` for faces of ``subject``, in one transaction (see the contract)."""
        owner = "PostgresStore.replace_embeddings"
        name = check_subject_name(subject, "subject", owner)
        ids, emb = check_updates(updates, model, self.identity, owner)
        with self._tx(write=True) as conn:
            sid = self._subject_id(conn, name)
            (mid,) = schema_mod.model_ids(conn, [model.key()])
            n = 0
            for fid, e in zip(ids, emb):
                n += conn.execute("UPDATE faces SET embedding = %b, model_id = %s WHERE id = %s AND subject_id = %s",
                                  [Vec(e), mid, fid, sid]).rowcount
            if n:
                self._bump(conn)
            return n

    def set_identity(self, identity: ModelIdentity) -> None:
        """Make ``identity`` the gallery's model (every face must be its): see the contract."""
        check_type(identity, "identity", ModelIdentity, owner="PostgresStore.set_identity", what="a ModelIdentity")
        with self._tx(write=True) as conn:
            (mid,) = schema_mod.model_ids(conn, [identity.key()])
            others = int(conn.execute("SELECT count(*) FROM faces WHERE model_id <> %s", [mid]).fetchone()[0])
            if others:
                raise GalleryError(f"Cannot make {identity.describe()} the model of {self.location}: {others} face(s) "
                                   "were made by another model (upgrade them first).")
            stored = ModelIdentity.from_dict(conn.execute("SELECT identity FROM gallery").fetchone()[0])
            if identity != stored:
                conn.execute("UPDATE gallery SET identity = %s", [json.dumps(identity.to_dict())])
                conn.execute("UPDATE meta SET value = %s WHERE key = 'identity'", [json.dumps(identity.to_dict())])
                self._bump(conn)
        self.identity = identity
