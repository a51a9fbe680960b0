"""The SQLite gallery file: its schema and migrations, connections, transactions, the checks that
a file is a gallery, and sqlite3's errors as GalleryError (the plumbing of
:mod:`facenet.gallery.sqlite_store`).

Layout (schema v2, ``PRAGMA user_version``; ``PRAGMA application_id`` marks the file as a
facenet gallery)::

    meta(key, value)               identity (JSON), quantize, gallery_uid, created, user keys
    state(generation)              one row, bumped in the transaction of every change
    subjects(id, name UNIQUE, created)
    models(id, identity UNIQUE)    every model identity that made a face (canonical JSON,
                                   ModelIdentity.key); id 1 is the one the gallery was made with
    faces(id, subject_id -> subjects ON DELETE CASCADE, embedding BLOB, photo_sha256,
          x1, y1, x2, y2, source, created, model_id -> models)
                                   UNIQUE (subject_id, photo_sha256) unless ''

v1 -> v2 (per-face model identity) adds ``models`` with the gallery's identity as id 1 and
``faces.model_id`` defaulting to 1: every face of a v1 gallery was made by the gallery's model.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from facenet.gallery.store import GalleryError, ModelIdentity
from facenet.validation import check_scalar

#: ``PRAGMA application_id`` of a facenet gallery ("fcng").
APPLICATION_ID = 0x66636E67
SQLITE_MAGIC = b"SQLite format 3\x00"


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


def _schema_v2(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE models (id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE)")
    row = conn.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
    if row is not None:  # an existing gallery (a new one is still empty: initialise() adds its model)
        add_model(conn, ModelIdentity.from_key(row[0]).key(), 1)
    conn.execute("ALTER TABLE faces ADD COLUMN model_id INTEGER NOT NULL DEFAULT 1")  # (SQLite: no REFERENCES with a default)
    conn.execute("CREATE INDEX faces_by_model ON faces (model_id)")


def add_model(conn: sqlite3.Connection, key: str, model_id: int | None = None) -> int:
    """The id of the model identity ``key`` (ModelIdentity.key()) in ``models``, added when new."""
    row = conn.execute("SELECT id FROM models WHERE identity = ?", (key,)).fetchone()
    if row is not None:
        return int(row[0])
    return int(conn.execute("INSERT INTO models (id, identity) VALUES (?, ?)", (model_id, key)).lastrowid)


#: MIGRATIONS[v] takes a gallery from schema v to v + 1 (v0: an empty file); len == SCHEMA_VERSION.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_schema_v1, _schema_v2)


def migrate(conn: sqlite3.Connection, steps: Sequence[Callable[[sqlite3.Connection], None]] | None = None,
            location: str = "the gallery") -> int:
    """Bring the database to schema ``len(steps)``, one step per version, all in one transaction
    (a failing step leaves the file as it was). Returns the version it started from.
    GalleryError for a schema newer than ``len(steps)``. ``conn`` must be in autocommit mode.
    steps None: MIGRATIONS."""
    with transaction(conn):
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
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back when the block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def connect(path: Path, mode: str, timeout: float) -> sqlite3.Connection:
    """An autocommit connection (explicit transactions) with foreign keys and a busy timeout."""
    timeout = check_scalar(timeout, "timeout", float, min_val=0.0, owner="SQLiteStore")
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    with sqlite_errors(str(path)):
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def initialise(conn: sqlite3.Connection, path: Path, identity: ModelIdentity, quantize: str) -> bool:
    """Make an empty database a gallery, all or nothing (a half-made gallery is never left
    behind), then switch it to WAL; False, touching nothing, when it is not empty (another
    process made it first, or it is something else)."""
    with sqlite_errors(str(path)):
        with transaction(conn):
            if peek(conn) != (0, 0, 0):
                return False
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            _apply_steps(conn, MIGRATIONS, str(path))  # v0 (empty) -> current: the steps open() migrates with
            meta = {"identity": json.dumps(identity.to_dict(), sort_keys=True), "quantize": quantize,
                    "gallery_uid": uuid.uuid4().hex, "created": repr(time.time())}
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
            add_model(conn, identity.key(), 1)
        conn.execute("PRAGMA journal_mode = WAL")
    return True


def peek(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(application_id, user_version, number of tables) of an open database."""
    app = int(conn.execute("PRAGMA application_id").fetchone()[0])
    ver = int(conn.execute("PRAGMA user_version").fetchone()[0])
    n = int(conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0])
    return app, ver, n


def check_header(path: Path) -> None:
    """GalleryError unless ``path`` is an existing file that starts like an SQLite database."""
    if not path.exists():
        raise GalleryError(f"No gallery at {path} (the file does not exist).")
    if not path.is_file():
        raise GalleryError(f"{path} is not a gallery (not a file).")
    head = read_head(path)
    if not head:
        raise GalleryError(f"{path} is not a facenet gallery (the file is empty).")
    if head != SQLITE_MAGIC:
        raise GalleryError(f"{path} is not a facenet gallery (not an SQLite database).")


def read_head(path: Path) -> bytes:
    """The first bytes of ``path`` (as many as SQLite's magic header); GalleryError when unreadable."""
    try:
        with path.open("rb") as fh:
            return fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise GalleryError(f"{path} cannot be read: {exc.strerror or exc}.") from None


@contextmanager
def sqlite_errors(location: str) -> Iterator[None]:
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
