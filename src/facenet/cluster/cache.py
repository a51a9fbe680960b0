"""The embedding cache of ``facenet cluster``: every face of every photo, embedded once.

One SQLite file (the standard library's ``sqlite3``; ``OUT/.facenet-cache.sqlite`` unless named)
keyed by the photo's SHA-256 and what found and embedded its faces (:func:`cache_key`: the model
identity and the detector), so a second run on a grown folder embeds only the new photos, and a
photo that moved or was copied is still known. A photo with no face is cached too (no rows in
``faces``), so it is not searched again.

Layout (``PRAGMA user_version`` = SCHEMA_VERSION)::

    photos(sha256, key, width, height, n_faces, created)        PRIMARY KEY (sha256, key)
    faces(sha256, key, face_index, box BLOB (4 float32), score, landmarks BLOB (10 float32),
          embedding BLOB (D float32))                          PRIMARY KEY (sha256, key, face_index)
    files(path, size, mtime_ns, sha256)                         PRIMARY KEY (path)

``files`` only saves reading: a photo whose absolute path, size and modification time are those
recorded is taken to hold the recorded SHA-256 (a file rewritten in place changes its mtime), so
a rerun over an unchanged library hashes nothing; the faces are still looked up by SHA-256.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from facenet.errors import DataError
from facenet.gallery.store import ModelIdentity

SCHEMA_VERSION = 1
#: ``PRAGMA application_id`` of a facenet cluster cache ("fncc").
APPLICATION_ID = 0x666E6363
_SQLITE_MAGIC = b"SQLite format 3\x00"


def cache_key(identity: ModelIdentity, detector: str) -> str:
    """What made a cached face: the model identity (model, weights, size, flip) and the detector
    name, as one canonical JSON string. Faces cached under another key are never used."""
    return json.dumps({**identity.to_dict(), "detector": str(detector)}, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class PhotoFaces:
    """Every face found in one photo.

    width, height: the photo's size in pixels. boxes: (K, 4) float32 x1, y1, x2, y2.
    scores: (K,) float32. landmarks: (K, 5, 2) float32. embeddings: (K, D) float32, unit norm.
    K = 0 for a photo without a face.
    """

    width: int
    height: int
    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray
    embeddings: np.ndarray

    def __len__(self) -> int:
        return int(len(self.boxes))

    @classmethod
    def empty(cls, width: int, height: int, dim: int) -> "PhotoFaces":
        return cls(width, height, np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, 5, 2), np.float32), np.zeros((0, dim), np.float32))


class EmbeddingCache:
    """Faces and embeddings per (photo SHA-256, :func:`cache_key`), in one SQLite file.

    path: the cache file (created with its folder when missing). key: :func:`cache_key` of the
    pipeline in use. Raises DataError for a file that is not a facenet cluster cache (or a newer
    one). Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path, key: str) -> None:
        self.path = Path(path)
        self.key = str(key)
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, "rb") as fh:
                if fh.read(16) != _SQLITE_MAGIC:
                    raise DataError(f"{self.path} is not an embedding cache (not an SQLite file); "
                                    "name another --cache file or remove it.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        try:
            self._init()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise DataError(f"{self.path}: cannot use it as an embedding cache ({exc})") from None
        except BaseException:
            self._conn.close()
            raise

    def _init(self) -> None:
        c = self._conn
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("BEGIN IMMEDIATE")
        try:
            app = c.execute("PRAGMA application_id").fetchone()[0]
            version = c.execute("PRAGMA user_version").fetchone()[0]
            tables = c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables == 0:
                c.execute("CREATE TABLE photos (sha256 TEXT NOT NULL, key TEXT NOT NULL, width INTEGER NOT NULL, "
                          "height INTEGER NOT NULL, n_faces INTEGER NOT NULL, created REAL NOT NULL, "
                          "PRIMARY KEY (sha256, key)) WITHOUT ROWID")
                c.execute("CREATE TABLE faces (sha256 TEXT NOT NULL, key TEXT NOT NULL, face_index INTEGER NOT NULL, "
                          "box BLOB NOT NULL, score REAL NOT NULL, landmarks BLOB NOT NULL, embedding BLOB NOT NULL, "
                          "PRIMARY KEY (sha256, key, face_index)) WITHOUT ROWID")
                c.execute(_FILES_TABLE)
                c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif app != APPLICATION_ID:
                raise DataError(f"{self.path} is an SQLite file but not a facenet embedding cache; "
                                "name another --cache file.")
            elif version > SCHEMA_VERSION:
                raise DataError(f"{self.path} is an embedding cache of a newer facenet (schema {version}, "
                                f"this one reads {SCHEMA_VERSION}).")
            else:
                c.execute(_FILES_TABLE.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ reads

    def known_sha256(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The SHA-256 recorded for the file at ``path`` (absolute) when its size and mtime are
        still the recorded ones; None otherwise."""
        return self.known_files({path: (size, mtime_ns)}).get(path)

    def known_files(self, stats: dict[str, tuple[int, int]]) -> dict[str, str]:
        """{path: SHA-256} for the files of ``stats`` ({absolute path: (size, mtime_ns)}) whose
        recorded size and mtime are the given ones (the others left out)."""
        out: dict[str, str] = {}
        paths = list(stats)
        for start in range(0, len(paths), 500):
            chunk = paths[start:start + 500]
            rows = self._conn.execute(f"SELECT path, size, mtime_ns, sha256 FROM files WHERE path IN "
                                      f"({','.join('?' * len(chunk))})", chunk).fetchall()
            out.update({p: str(h) for p, n, m, h in rows if stats[p] == (int(n), int(m))})
        return out

    def get(self, sha256: str) -> PhotoFaces | None:
        """The cached faces of one photo, or None when it was never seen by this key."""
        return self.get_many([sha256]).get(sha256)

    def get_many(self, sha256s: Iterable[str]) -> dict[str, PhotoFaces]:
        """{sha256: PhotoFaces} for the photos of ``sha256s`` that are cached (others left out)."""
        wanted = list(dict.fromkeys(sha256s))
        out: dict[str, PhotoFaces] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            photos = self._conn.execute(f"SELECT sha256, width, height, n_faces FROM photos WHERE key = ? AND "
                                        f"sha256 IN ({marks})", [self.key, *chunk]).fetchall()
            rows: dict[str, list[tuple]] = {}
            for r in self._conn.execute(f"SELECT sha256, face_index, box, score, landmarks, embedding FROM faces "
                                        f"WHERE key = ? AND sha256 IN ({marks}) ORDER BY sha256, face_index",
                                        [self.key, *chunk]):
                rows.setdefault(r[0], []).append(r)
            for sha, w, h, n in photos:
                faces = rows.get(sha, [])
                if len(faces) != n:  # a damaged entry: treat as not cached (it is embedded again)
                    continue
                out[sha] = _photo_faces(int(w), int(h), faces)
        return out

    def __contains__(self, sha256: object) -> bool:
        return self._conn.execute("SELECT 1 FROM photos WHERE key = ? AND sha256 = ?",
                                  (self.key, sha256)).fetchone() is not None

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM photos WHERE key = ?", (self.key,)).fetchone()[0])

    # ------------------------------------------------------------------ writes

    def put(self, sha256: str, faces: PhotoFaces) -> None:
        """Store one photo's faces (replacing what this key had for it), in one transaction."""
        self.put_many([(sha256, faces)])

    def put_many(self, items: Sequence[tuple[str, PhotoFaces]],
                 files: Sequence[tuple[str, int, int, str]] = ()) -> None:
        """Store several photos' faces, and ``files`` rows (absolute path, size, mtime_ns,
        sha256) for :meth:`known_sha256`, in one transaction."""
        if not items and not files:
            return
        c = self._conn
        now = time.time()
        c.execute("BEGIN IMMEDIATE")
        try:
            c.executemany("INSERT OR REPLACE INTO files (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
                          [(str(p), int(n), int(m), str(h)) for p, n, m, h in files])
            for sha, f in items:
                c.execute("DELETE FROM faces WHERE sha256 = ? AND key = ?", (sha, self.key))
                c.execute("INSERT OR REPLACE INTO photos (sha256, key, width, height, n_faces, created) "
                          "VALUES (?, ?, ?, ?, ?, ?)", (sha, self.key, int(f.width), int(f.height), len(f), now))
                c.executemany(
                    "INSERT INTO faces (sha256, key, face_index, box, score, landmarks, embedding) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(sha, self.key, i, _blob(f.boxes[i]), float(f.scores[i]), _blob(f.landmarks[i]), _blob(f.embeddings[i]))
                     for i in range(len(f))])
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "EmbeddingCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_FILES_TABLE = ("CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, "
                "sha256 TEXT NOT NULL) WITHOUT ROWID")


def _blob(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def _photo_faces(width: int, height: int, rows: list[tuple]) -> PhotoFaces:
    k = len(rows)
    if k == 0:
        return PhotoFaces.empty(width, height, 0)
    boxes = np.stack([np.frombuffer(r[2], "<f4") for r in rows]).astype(np.float32).reshape(k, 4)
    scores = np.asarray([r[3] for r in rows], np.float32)
    landmarks = np.stack([np.frombuffer(r[4], "<f4") for r in rows]).astype(np.float32).reshape(k, 5, 2)
    emb = np.stack([np.frombuffer(r[5], "<f4") for r in rows]).astype(np.float32)
    return PhotoFaces(width, height, boxes, scores, landmarks, emb)
