"""The embedded gallery backend: one SQLite file (WAL mode), the default.

The file's layout, migrations and connections are in :mod:`facenet.gallery.sqlite_schema`;
embeddings are float32 blobs of D values, or with ``quantize="int8"`` D signed bytes
(:mod:`facenet.gallery.quantize`: round(127 x), the paper's 128-byte embeddings), dequantised
(q / 127, renormalised) on read. Every write is one ``BEGIN IMMEDIATE`` transaction; a busy
timeout makes concurrent processes wait for each other instead of failing; ``synchronous=FULL``
makes a commit survive a power cut. A store may be shared by threads (one lock serialises its
connection).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import numpy as np

from facenet.gallery import sqlite_schema
from facenet.gallery.harmonic import check_comparable
from facenet.gallery.quantize import QUANTIZE, decode, encode
from facenet.gallery.sqlite_models import SQLiteModels
from facenet.gallery.sqlite_rows import (
    BULK_CACHE_KIB,
    FACE_SQL,
    INSERT_FACE,
    box_values,
    face_records,
    model_ids,
    models_by_id,
    page_cache,
    subject_ids,
)
from facenet.gallery.sqlite_schema import (
    APPLICATION_ID,
    MIGRATIONS,
    SQLITE_MAGIC,
    check_header,
    connect,
    initialise,
    migrate,
    peek,
    read_head,
    sqlite_errors,
    transaction,
)
from facenet.gallery.store import (
    GalleryError,
    ModelIdentity,
    NewFace,
    SubjectExistsError,
    SubjectSummary,
    check_meta_key,
    check_new_faces,
    check_subject_name,
    face_models,
    sample_face_ids,
    subject_not_found,
)
from facenet.validation import check_option, check_scalar, check_type

if TYPE_CHECKING:
    from facenet.gallery.store import FaceRecord

#: Re-exported: the file's schema and the embedding codec live in their own modules.
__all__ = ["APPLICATION_ID", "MIGRATIONS", "QUANTIZE", "SQLiteStore", "decode", "encode", "migrate"]

class SQLiteStore(SQLiteModels):
    """A gallery in one SQLite file. Make one with :meth:`create`, open one with :meth:`open`,
    or :meth:`open_or_create` (the one that is safe when processes race to make the gallery).

    Implements facenet.gallery.store.GalleryStore; ``quantize`` is "none" or "int8".
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, identity: ModelIdentity, quantize: str) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.RLock()
        self.path = path
        self.location = str(path)
        self.identity = identity
        self.quantize = quantize

    # ---------------------------------------------------------------- opening
    @classmethod
    def create(cls, path: str | Path, identity: ModelIdentity, *, quantize: str = "none",
               timeout: float = 30.0) -> "SQLiteStore":
        """A new, empty gallery at ``path`` (GalleryError when something is already there).

        quantize: "none" (float32 embeddings, 4 D bytes) or "int8" (D bytes each)."""
        check_type(identity, "identity", ModelIdentity, owner="SQLiteStore.create", what="a ModelIdentity")
        check_option(quantize, "quantize", QUANTIZE, owner="SQLiteStore.create")
        path = Path(path)
        exists = f"{path} already exists; open it instead of creating a gallery there."
        if path.exists() and (not path.is_file() or (path.stat().st_size > 0 and read_head(path) != SQLITE_MAGIC)):
            raise GalleryError(exists)
        conn = connect(path, "rwc", timeout)
        try:
            if not initialise(conn, path, identity, quantize):
                raise GalleryError(exists)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, identity, quantize)

    @classmethod
    def open_or_create(cls, path: str | Path, identity: ModelIdentity, *, quantize: str = "none",
                       timeout: float = 30.0) -> "SQLiteStore":
        """The gallery at ``path``, created (with ``quantize``) when nothing is there yet. Safe
        when several processes race to create it: one does, the others open it (and, like
        :meth:`open`, refuse another model with ModelMismatchError)."""
        check_type(identity, "identity", ModelIdentity, owner="SQLiteStore.open_or_create", what="a ModelIdentity")
        check_option(quantize, "quantize", QUANTIZE, owner="SQLiteStore.open_or_create")
        path = Path(path)
        if not path.exists() or (path.is_file() and read_head(path) in (b"", SQLITE_MAGIC)):
            conn = connect(path, "rwc", timeout)  # initialised under a write lock, or left alone
            try:
                initialise(conn, path, identity, quantize)
            finally:
                conn.close()
        return cls.open(path, identity, timeout=timeout)

    @classmethod
    def open(cls, path: str | Path, identity: ModelIdentity | None = None, *, timeout: float = 30.0) -> "SQLiteStore":
        """Open the gallery at ``path``, migrating an older schema forward.

        identity None: use the model identity stored in the file; given: ModelMismatchError
        (naming both models) when it differs and is not declared harmonic with it (the store's
        identity stays the stored one). GalleryError when the file is missing, not a
        gallery, damaged, or of a newer schema."""
        check_type(identity, "identity", (ModelIdentity, type(None)), owner="SQLiteStore.open",
                   what="a ModelIdentity or None")
        path = Path(path)
        check_header(path)
        conn = connect(path, "rw", timeout)
        try:
            with sqlite_errors(str(path)):
                app_id, version, n_tables = peek(conn)
                if app_id != APPLICATION_ID:
                    what = "an empty SQLite database" if n_tables == 0 else "another application's SQLite database"
                    raise GalleryError(f"{path} is not a facenet gallery ({what}).")
                conn.execute("PRAGMA journal_mode = WAL")
                if version != len(sqlite_schema.MIGRATIONS):
                    migrate(conn, sqlite_schema.MIGRATIONS, location=str(path))
                meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('identity', 'quantize')"))
            try:
                stored = ModelIdentity.from_dict(json.loads(meta["identity"]))
                quantize = check_option(meta["quantize"], "quantize", QUANTIZE)
            except (KeyError, ValueError, TypeError) as exc:
                raise GalleryError(f"{path} is a damaged gallery: its model identity cannot be read ({exc}).") from None
            if identity is not None:
                check_comparable(stored, identity, what="the embeddings of the model in use")  # same or harmonic
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, stored, quantize)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "SQLiteStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.location!r}, {self.identity.describe()}, quantize={self.quantize!r})"

    # ---------------------------------------------------------------- plumbing
    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise GalleryError(f"The gallery {self.location} is closed.")
        return self._conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, sqlite_errors(self.location):
            yield self._live()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE transaction: committed when the block ends, rolled back on error."""
        with self._lock, sqlite_errors(self.location), transaction(self._live()) as conn:
            yield conn

    @staticmethod
    def _bump(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE state SET generation = generation + 1 WHERE id = 1")

    @staticmethod
    def _subject_id(conn: sqlite3.Connection, name: str) -> int | None:
        row = conn.execute("SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def _require(self, conn: sqlite3.Connection, name: str) -> int:
        sid = self._subject_id(conn, name)
        if sid is None:
            raise subject_not_found(name, [r[0] for r in conn.execute("SELECT name FROM subjects")])
        return sid

    # ---------------------------------------------------------------- contract
    def generation(self) -> int:
        with self._read() as conn:
            return int(conn.execute("SELECT generation FROM state WHERE id = 1").fetchone()[0])

    def add_faces(self, subject: str, faces: Sequence[NewFace], create: bool = True) -> list[int]:
        """Enrol ``faces`` for ``subject`` in one transaction (see GalleryStore.add_faces)."""
        owner = "SQLiteStore.add_faces"
        name = check_subject_name(subject, "subject", owner)
        check_type(create, "create", bool, owner=owner, what="a bool")
        blobs = encode(check_new_faces(faces, self.identity, owner), self.quantize)
        with self._write() as conn:
            changed, ids = self._insert(conn, name, faces, blobs, create, time.time())
            if changed or ids:
                self._bump(conn)
        return ids

    def bulk_add(self, items: Iterable[tuple[str, Sequence[NewFace]]], *, rebuild_index: bool | None = None) -> int:
        """Enrol many subjects' faces in ONE transaction (a gallery import), with the add_faces
        rules and one generation bump. rebuild_index: accepted for PostgresStore's signature (the
        FAISS index follows the generation). Returns the faces added.

        Set-based, for imports of a million faces: every check first, then one INSERT statement
        for all the subjects and one for all the faces (prepared once, run over the rows), with
        a larger page cache for the transaction; the transaction, WAL and ``synchronous=FULL``
        are those of every write (a crash leaves the import whole or not at all)."""
        owner = "SQLiteStore.bulk_add"
        batch = [(check_subject_name(subject, "subject", owner), faces) for subject, faces in items]
        every = [face for _, faces in batch for face in faces]
        blobs = encode(check_new_faces(every, self.identity, owner), self.quantize)  # all checked at once
        names = list(dict.fromkeys(name for name, _ in batch))  # first-seen order: subject ids follow the batch
        now = time.time()
        with self._write() as conn, page_cache(conn, BULK_CACHE_KIB if len(every) > 10_000 else 0):
            changes = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO subjects (name, created) VALUES (?, ?)", ((n, now) for n in names))
            made = conn.total_changes - changes
            sid = subject_ids(conn, names)
            blob, mid = iter(blobs), iter(model_ids(conn, face_models(every, self.identity)))
            changes = conn.total_changes
            conn.executemany(INSERT_FACE, ((sid[name], next(blob), face.photo_sha256.lower(), *box_values(face.box),
                                            face.source, now, next(mid)) for name, faces in batch for face in faces))
            added = conn.total_changes - changes
            if made or added:
                self._bump(conn)
        return added

    def _insert(self, conn: sqlite3.Connection, name: str, faces: Sequence[NewFace], blobs: list[bytes], create: bool,
                now: float, ids: bool = True) -> tuple[bool, Any]:
        """Inside a write transaction: (whether the subject was created, the new face ids, or
        with ``ids=False`` just how many)."""
        sid, made = self._subject_id(conn, name), False
        if sid is None:
            if not create:
                raise subject_not_found(name, [r[0] for r in conn.execute("SELECT name FROM subjects")])
            sid = int(conn.execute("INSERT INTO subjects (name, created) VALUES (?, ?)", (name, now)).lastrowid)
            made = True
        if ids:
            first = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'faces'").fetchone()[0])
        changes = conn.total_changes
        mids = model_ids(conn, face_models(faces, self.identity))
        conn.executemany(INSERT_FACE, ((sid, blob, face.photo_sha256.lower(), *box_values(face.box), face.source, now, mid)
                                       for face, blob, mid in zip(faces, blobs, mids)))
        if not ids:
            return made, conn.total_changes - changes
        # AUTOINCREMENT ids only grow and this transaction holds the write lock: ours are the ones above.
        return made, [int(r[0]) for r in conn.execute("SELECT id FROM faces WHERE id > ? ORDER BY id", (first,))]

    def subjects(self) -> list[SubjectSummary]:
        """Every subject, by name, with its number of faces."""
        with self._read() as conn:
            rows = conn.execute("SELECT s.name, COUNT(f.id), s.created FROM subjects s LEFT JOIN faces f "
                                "ON f.subject_id = s.id GROUP BY s.id ORDER BY s.name").fetchall()
        return [SubjectSummary(name, int(n), float(created)) for name, n, created in rows]

    def counts(self) -> tuple[int, int]:
        """(subjects, faces)."""
        with self._read() as conn:
            n, f = conn.execute("SELECT (SELECT COUNT(*) FROM subjects), (SELECT COUNT(*) FROM faces)").fetchone()
        return int(n), int(f)

    def faces(self, subject: str | None = None) -> list["FaceRecord"]:
        """Every face (of ``subject`` when given), by face id."""
        sql = FACE_SQL
        with self._read() as conn:
            models = models_by_id(conn)
            if subject is None:
                rows = conn.execute(sql + " ORDER BY f.id").fetchall()
            else:
                name = check_subject_name(subject, "subject", "SQLiteStore.faces")
                conn.execute("BEGIN")  # one snapshot for the check and the read
                try:
                    sid = self._require(conn, name)
                    rows = conn.execute(sql + " WHERE f.subject_id = ? ORDER BY f.id", (sid,)).fetchall()
                finally:
                    conn.execute("COMMIT")
        return face_records(rows, models, self.identity.embedding_size, self.quantize, self.location)

    def all_embeddings(self, model: ModelIdentity | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(face ids (N,) int64 ascending, embeddings (N, D) float32 unit norm, subject per face);
        with ``model``, of that model's faces only."""
        with self._read() as conn:
            cond, args = self._model_filter(conn, model)
            rows = conn.execute("SELECT f.id, f.embedding, s.name FROM faces f JOIN subjects s "
                                f"ON s.id = f.subject_id WHERE {cond} ORDER BY f.id", args).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        emb = decode([r[1] for r in rows], self.identity.embedding_size, self.quantize, self.location)
        return ids, emb, [r[2] for r in rows]

    def sample_embeddings(self, n: int, seed: int = 0,
                          model: ModelIdentity | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """At most ``n`` faces, a seeded sample (all when there are no more): see the store contract."""
        with self._read() as conn:
            cond, args = self._model_filter(conn, model)
            lo, hi, count = conn.execute(f"SELECT min(id), max(id), count(*) FROM faces f WHERE {cond}", args).fetchone()
            ids = sample_face_ids(int(lo or 0), int(hi or 0), int(count), n, seed)
            if ids is None:
                return self.all_embeddings(model)
            rows = []
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                rows += conn.execute(f"SELECT f.id, f.embedding, s.name FROM faces f JOIN subjects s ON s.id = f.subject_id "
                                     f"WHERE f.id IN ({','.join('?' * len(chunk))}) AND {cond} ORDER BY f.id",
                                     (*chunk, *args)).fetchall()
        rows = rows[:n]
        emb = decode([r[1] for r in rows], self.identity.embedding_size, self.quantize, self.location)
        return np.fromiter((r[0] for r in rows), np.int64, len(rows)), emb, [r[2] for r in rows]

    def rename(self, old: str, new: str) -> None:
        """Rename a subject (SubjectExistsError when ``new`` is taken; same name: nothing happens)."""
        old = check_subject_name(old, "old", "SQLiteStore.rename")
        new = check_subject_name(new, "new", "SQLiteStore.rename")
        with self._write() as conn:
            sid = self._require(conn, old)
            if new == old:
                return
            if self._subject_id(conn, new) is not None:
                raise SubjectExistsError(f"Cannot rename {old!r} to {new!r}: a subject named {new!r} already exists "
                                         f"(merge them instead).")
            conn.execute("UPDATE subjects SET name = ? WHERE id = ?", (new, sid))
            self._bump(conn)

    def merge(self, source: str, target: str) -> int:
        """Move every face of ``source`` to the existing ``target`` and delete ``source``.

        A source face whose photo is already enrolled for ``target`` is dropped (it is the same
        photo). Returns the faces moved."""
        source = check_subject_name(source, "source", "SQLiteStore.merge")
        target = check_subject_name(target, "target", "SQLiteStore.merge")
        if source == target:
            raise ValueError(f"Cannot merge {source!r} into itself.")
        with self._write() as conn:
            src, dst = self._require(conn, source), self._require(conn, target)
            moved = conn.execute("UPDATE OR IGNORE faces SET subject_id = ? WHERE subject_id = ?", (dst, src)).rowcount
            conn.execute("DELETE FROM subjects WHERE id = ?", (src,))  # cascades to duplicates left behind
            self._bump(conn)
        return int(moved)

    def remove_subject(self, name: str) -> int:
        """Delete a subject and its faces; returns the faces removed."""
        name = check_subject_name(name, "name", "SQLiteStore.remove_subject")
        with self._write() as conn:
            sid = self._require(conn, name)
            n = int(conn.execute("SELECT COUNT(*) FROM faces WHERE subject_id = ?", (sid,)).fetchone()[0])
            conn.execute("DELETE FROM subjects WHERE id = ?", (sid,))
            self._bump(conn)
        return n

    def remove_faces(self, face_ids: Sequence[int]) -> int:
        """Delete faces by id (unknown ids are ignored; subjects stay, maybe with no faces)."""
        ids = [check_scalar(i, "face_ids", int, owner="SQLiteStore.remove_faces") for i in face_ids]
        with self._write() as conn:
            n = sum(conn.execute("DELETE FROM faces WHERE id = ?", (i,)).rowcount for i in ids)
            if n:
                self._bump(conn)
        return n

    def get_meta(self, key: str) -> str | None:
        check_type(key, "key", str, owner="SQLiteStore.get_meta", what="a string")
        with self._read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a user setting (e.g. a calibrated threshold). The store's own keys are refused."""
        check_meta_key(key, value, "SQLiteStore.set_meta")
        with self._write() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         (key, value))
