"""The embedded gallery backend: one SQLite file (WAL mode), the default.

Layout (schema v1, ``PRAGMA user_version``; ``PRAGMA application_id`` marks the file as a
facenet gallery)::

    meta(key, value)               identity (JSON), quantize, gallery_uid, created, user keys
    state(generation)              one row, bumped in the transaction of every change
    subjects(id, name UNIQUE, created)
    faces(id, subject_id -> subjects ON DELETE CASCADE, embedding BLOB, photo_sha256,
          x1, y1, x2, y2, source, created)      UNIQUE (subject_id, photo_sha256) unless ''

Embeddings are float32 blobs of D values, or with ``quantize="int8"`` D signed bytes
(round(127 x), the paper's 128-byte embeddings), dequantised (q / 127, renormalised) on read.
Every write is one ``BEGIN IMMEDIATE`` transaction; a busy timeout makes concurrent processes
wait for each other instead of failing; ``synchronous=FULL`` makes a commit survive a power cut.
A store may be shared by threads (one lock serialises its connection).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from facenet.gallery.store import (
    FaceRecord,
    GalleryError,
    ModelIdentity,
    NewFace,
    SubjectExistsError,
    SubjectSummary,
    check_meta_key,
    check_new_faces,
    check_subject_name,
    subject_not_found,
)
from facenet.validation import check_option, check_scalar, check_type

#: ``PRAGMA application_id`` of a facenet gallery ("fcng").
APPLICATION_ID = 0x66636E67
QUANTIZE = ("none", "int8")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def _schema_v1(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
    conn.execute("CREATE TABLE state (id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL)")
    conn.execute("INSERT INTO state (id, generation) VALUES (1, 0)")
    conn.execute("CREATE TABLE subjects (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, "
                 "created REAL NOT NULL)")
    conn.execute("CREATE TABLE faces (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                 "subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE, "
                 "embedding BLOB NOT NULL, photo_sha256 TEXT NOT NULL, x1 REAL, y1 REAL, x2 REAL, y2 REAL, "
                 "source TEXT NOT NULL, created REAL NOT NULL)")
    conn.execute("CREATE INDEX faces_by_subject ON faces (subject_id)")
    conn.execute("CREATE UNIQUE INDEX faces_one_photo ON faces (subject_id, photo_sha256) WHERE photo_sha256 <> ''")


#: MIGRATIONS[v] takes a gallery from schema v to v + 1 (v0: an empty file); len == SCHEMA_VERSION.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_schema_v1,)


def migrate(conn: sqlite3.Connection, steps: Sequence[Callable[[sqlite3.Connection], None]] | None = None,
            location: str = "the gallery") -> int:
    """Bring the database to schema ``len(steps)``, one step per version, all in one transaction
    (a failing step leaves the file as it was). Returns the version it started from.
    GalleryError for a schema newer than ``len(steps)``. ``conn`` must be in autocommit mode.
    steps None: MIGRATIONS."""
    with _transaction(conn):
        return _apply_steps(conn, MIGRATIONS if steps is None else steps, location)


def _apply_steps(conn: sqlite3.Connection, steps: Sequence[Callable[[sqlite3.Connection], None]], location: str) -> int:
    start = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if start > len(steps):
        raise GalleryError(f"{location} has gallery schema v{start}, newer than this facenet reads "
                           f"(up to v{len(steps)}); upgrade facenet to open it.")
    for version in range(start, len(steps)):
        steps[version](conn)
        conn.execute(f"PRAGMA user_version = {version + 1}")
    return start


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back when the block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _blob_size(dim: int, quantize: str) -> int:
    return dim if quantize == "int8" else 4 * dim


def encode(embeddings: np.ndarray, quantize: str) -> list[bytes]:
    """(N, D) float32 unit embeddings -> one blob each (float32, or int8 round(127 x))."""
    if quantize == "int8":
        q = np.clip(np.rint(embeddings * 127.0), -127, 127).astype(np.int8)
        return [row.tobytes() for row in q]
    return [row.tobytes() for row in np.ascontiguousarray(embeddings, dtype=np.float32)]


def decode(blobs: Sequence[bytes], dim: int, quantize: str, location: str = "the gallery") -> np.ndarray:
    """Blobs -> (N, D) float32 unit embeddings (int8 ones dequantised and renormalised)."""
    size = _blob_size(dim, quantize)
    if any(len(b) != size for b in blobs):
        raise GalleryError(f"{location} holds an embedding of the wrong size (expected {size} bytes: "
                           f"{dim}-D {quantize}); the file is damaged.")
    raw = b"".join(blobs)
    if quantize == "int8":
        x = np.frombuffer(raw, dtype=np.int8).reshape(len(blobs), dim).astype(np.float32) / 127.0
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.maximum(norms, np.float32(1e-12))
    return np.frombuffer(raw, dtype=np.float32).reshape(len(blobs), dim).copy()


def _box_values(box: Sequence[float]) -> tuple[float | None, ...]:
    """A box as four SQL values (NULL for NaN: SQLite has no NaN)."""
    return tuple(None if v != v else float(v) for v in box)


def _box(row: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in row], dtype=np.float64)


class SQLiteStore:
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
        if path.exists() and (not path.is_file() or (path.stat().st_size > 0 and _read_head(path) != _SQLITE_MAGIC)):
            raise GalleryError(exists)
        conn = _connect(path, "rwc", timeout)
        try:
            if not _initialise(conn, path, identity, quantize):
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
        if not path.exists() or (path.is_file() and _read_head(path) in (b"", _SQLITE_MAGIC)):
            conn = _connect(path, "rwc", timeout)  # initialised under a write lock, or left alone
            try:
                _initialise(conn, path, identity, quantize)
            finally:
                conn.close()
        return cls.open(path, identity, timeout=timeout)

    @classmethod
    def open(cls, path: str | Path, identity: ModelIdentity | None = None, *, timeout: float = 30.0) -> "SQLiteStore":
        """Open the gallery at ``path``, migrating an older schema forward.

        identity None: use the model identity stored in the file; given: ModelMismatchError
        (naming both models) when it differs. GalleryError when the file is missing, not a
        gallery, damaged, or of a newer schema."""
        check_type(identity, "identity", (ModelIdentity, type(None)), owner="SQLiteStore.open",
                   what="a ModelIdentity or None")
        path = Path(path)
        _check_header(path)
        conn = _connect(path, "rw", timeout)
        try:
            with _sqlite_errors(str(path)):
                app_id, version, n_tables = _peek(conn)
                if app_id != APPLICATION_ID:
                    what = "an empty SQLite database" if n_tables == 0 else "another application's SQLite database"
                    raise GalleryError(f"{path} is not a facenet gallery ({what}).")
                conn.execute("PRAGMA journal_mode = WAL")
                if version != len(MIGRATIONS):
                    migrate(conn, location=str(path))
                meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('identity', 'quantize')"))
            try:
                stored = ModelIdentity.from_dict(json.loads(meta["identity"]))
                quantize = check_option(meta["quantize"], "quantize", QUANTIZE)
            except (KeyError, ValueError, TypeError) as exc:
                raise GalleryError(f"{path} is a damaged gallery: its model identity cannot be read ({exc}).") from None
            if identity is not None:
                stored.check_same(identity, what="the embeddings of the model in use")
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
        with self._lock, _sqlite_errors(self.location):
            yield self._live()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE transaction: committed when the block ends, rolled back on error."""
        with self._lock, _sqlite_errors(self.location), _transaction(self._live()) as conn:
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
        FAISS index follows the generation). Returns the faces added."""
        owner = "SQLiteStore.bulk_add"
        batch = [(check_subject_name(subject, "subject", owner), faces) for subject, faces in items]
        every = [face for _, faces in batch for face in faces]
        blobs = encode(check_new_faces(every, self.identity, owner), self.quantize)  # all checked at once
        now, added, changed, at = time.time(), 0, False, 0
        with self._write() as conn:
            for name, faces in batch:
                made, n = self._insert(conn, name, faces, blobs[at:at + len(faces)], True, now, ids=False)
                changed, added, at = changed or made, added + n, at + len(faces)
            if changed or added:
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
        conn.executemany("INSERT OR IGNORE INTO faces (subject_id, embedding, photo_sha256, x1, y1, x2, y2, source, "
                         "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         ((sid, blob, face.photo_sha256.lower(), *_box_values(face.box), face.source, now)
                          for face, blob in zip(faces, blobs)))
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

    def faces(self, subject: str | None = None) -> list[FaceRecord]:
        """Every face (of ``subject`` when given), by face id."""
        sql = ("SELECT f.id, s.name, f.embedding, f.photo_sha256, f.x1, f.y1, f.x2, f.y2, f.source, f.created "
               "FROM faces f JOIN subjects s ON s.id = f.subject_id")
        with self._read() as conn:
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
        emb = decode([r[2] for r in rows], self.identity.embedding_size, self.quantize, self.location)
        return [FaceRecord(int(r[0]), r[1], emb[i], r[3], _box(r[4:8]), r[8], float(r[9])) for i, r in enumerate(rows)]

    def all_embeddings(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(face ids (N,) int64 ascending, embeddings (N, D) float32 unit norm, subject per face)."""
        with self._read() as conn:
            rows = conn.execute("SELECT f.id, f.embedding, s.name FROM faces f JOIN subjects s "
                                "ON s.id = f.subject_id ORDER BY f.id").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        emb = decode([r[1] for r in rows], self.identity.embedding_size, self.quantize, self.location)
        return ids, emb, [r[2] for r in rows]

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


def _connect(path: Path, mode: str, timeout: float) -> sqlite3.Connection:
    """An autocommit connection (explicit transactions) with foreign keys and a busy timeout."""
    timeout = check_scalar(timeout, "timeout", float, min_val=0.0, owner="SQLiteStore")
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    with _sqlite_errors(str(path)):
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def _initialise(conn: sqlite3.Connection, path: Path, identity: ModelIdentity, quantize: str) -> bool:
    """Make an empty database a gallery, all or nothing (a half-made gallery is never left
    behind), then switch it to WAL; False, touching nothing, when it is not empty (another
    process made it first, or it is something else)."""
    with _sqlite_errors(str(path)):
        with _transaction(conn):
            if _peek(conn) != (0, 0, 0):
                return False
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            _apply_steps(conn, MIGRATIONS, str(path))  # v0 (empty) -> current: the steps open() migrates with
            meta = {"identity": json.dumps(identity.to_dict(), sort_keys=True), "quantize": quantize,
                    "gallery_uid": uuid.uuid4().hex, "created": repr(time.time())}
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
        conn.execute("PRAGMA journal_mode = WAL")
    return True


def _peek(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(application_id, user_version, number of tables) of an open database."""
    app = int(conn.execute("PRAGMA application_id").fetchone()[0])
    ver = int(conn.execute("PRAGMA user_version").fetchone()[0])
    n = int(conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0])
    return app, ver, n


def _check_header(path: Path) -> None:
    """GalleryError unless ``path`` is an existing file that starts like an SQLite database."""
    if not path.exists():
        raise GalleryError(f"No gallery at {path} (the file does not exist).")
    if not path.is_file():
        raise GalleryError(f"{path} is not a gallery (not a file).")
    head = _read_head(path)
    if not head:
        raise GalleryError(f"{path} is not a facenet gallery (the file is empty).")
    if head != _SQLITE_MAGIC:
        raise GalleryError(f"{path} is not a facenet gallery (not an SQLite database).")


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise GalleryError(f"{path} cannot be read: {exc.strerror or exc}.") from None


@contextmanager
def _sqlite_errors(location: str) -> Iterator[None]:
    """sqlite3's errors as GalleryError naming the gallery (integrity errors are bugs: re-raised)."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except sqlite3.OperationalError as exc:
        msg = str(exc)
        if "locked" in msg or "busy" in msg:
            raise GalleryError(f"The gallery {location} is busy (another process held it longer than the "
                               f"timeout): {msg}.") from None
        raise GalleryError(f"The gallery {location} cannot be used: {msg}.") from None
    except sqlite3.DatabaseError as exc:
        raise GalleryError(f"{location} is not a usable gallery: {exc}.") from None
