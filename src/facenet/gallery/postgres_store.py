"""The server backend of a gallery: PostgreSQL + pgvector, for a gallery shared by several
processes or machines, chosen by a ``postgresql://`` URL.

>>> store = PostgresStore.create("postgresql://me@db.example/faces", identity)    # gallery "default"
>>> store = PostgresStore.open("postgresql://me@db.example/faces?gallery=office")  # another one
>>> dist, ids = store.search(queries, k=5)     # nearest faces by pgvector's HNSW index, in the database

Several galleries live in one database, one schema each (gallery ``NAME`` is schema
``facenet_NAME``; the name comes from ``name=`` or the URL's ``gallery=`` parameter, which is not
passed on to the server). The table layout and its migrations are in
:mod:`facenet.gallery.pg_schema`. Writers serialise on the one row of the ``gallery`` table
(``SELECT ... FOR UPDATE``), so generations follow the commit order and concurrent processes
never lose an enrolment. A store holds one connection: a lock makes it safe to share between
threads (their calls are then serialised); a lost connection is made again on the next call.
Every server error reaches the caller as a one-line GalleryError.
"""

from __future__ import annotations

import json
import threading
import uuid
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from facenet.gallery import pg_bulk, pg_search
from facenet.gallery import pg_schema as schema_mod
from facenet.gallery.harmonic import check_comparable
from facenet.gallery.index import SubjectHit
from facenet.gallery.pg_models import PostgresModels
from facenet.gallery.pg_schema import NOW, SCHEMA_PREFIX, Vec, closing_on_error, connect, first_line, split_url
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
    face_models,
    subject_not_found,
)
from facenet.validation import check_scalar, check_type

#: pgvector's hnsw.ef_search for search() (raised to k when k is larger); bench/gallery_pg.py
#: measures what each value costs and gives (recall@1 against exact search, latency): with the
#: index of pg_schema.HNSW_M / HNSW_EF_CONSTRUCTION, 500 is the smallest of 400/500/600/800 that
#: reached recall@1 0.99 on the tuning queries at 100,000 faces.
DEFAULT_EF_SEARCH = 500
_FACE_SQL = ("SELECT f.id, s.name, f.embedding, f.photo_sha256, f.box, f.source, f.created, m.identity "
             "FROM faces f JOIN subjects s ON s.id = f.subject_id JOIN models m ON m.id = f.model_id")


class _GalleryExists(GalleryError):
    """create() of a gallery that is there already."""


class PostgresStore(PostgresModels):
    """A :class:`~facenet.gallery.store.GalleryStore` in a PostgreSQL database with pgvector.

    Use :meth:`create` / :meth:`open` (not the constructor). ``location`` is the URL with the
    password hidden and the gallery name as ``gallery=``. ef_search: pgvector's ``hnsw.ef_search``
    for :meth:`search` (higher: better recall, slower).
    """

    def __init__(self, conn: Any, server_url: str, schema: str, identity: ModelIdentity, location: str,
                 ef_search: int = DEFAULT_EF_SEARCH) -> None:
        self._conn = conn
        self._server_url = server_url
        self._schema = schema
        self.identity = identity
        self.location = location
        self.ef_search = check_scalar(ef_search, "ef_search", int, min_val=1, max_val=1000, owner="PostgresStore")
        self._lock = threading.RLock()
        self._closed = False
        self._session_ef = 0  # the connection's hnsw.ef_search (0: not set yet)

    # ------------------------------------------------------------------ create / open

    @classmethod
    def create(cls, url: str, identity: ModelIdentity, name: str | None = None, *,
               ef_search: int = DEFAULT_EF_SEARCH) -> "PostgresStore":
        """A new, empty gallery ``name`` (default "default") in the database at ``url``, made by
        ``identity``. GalleryError when it exists already or the server cannot be used."""
        check_type(identity, "identity", ModelIdentity, owner="PostgresStore.create")
        server, name, shown = split_url(url, name, "PostgresStore.create")
        schema = SCHEMA_PREFIX + name
        conn = connect(server, shown)
        psycopg = schema_mod.psycopg()
        sql = psycopg.sql
        with closing_on_error(conn, f"Cannot create the gallery {shown}"):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('facenet gallery create'))")
                try:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except psycopg.errors.InsufficientPrivilege:
                    raise GalleryError(f"{shown}: the pgvector extension is not installed and this role may not "
                                       f"create it (ask an administrator to run CREATE EXTENSION vector).") from None
                if schema_mod.is_gallery(conn, schema):
                    raise _GalleryExists(f"{shown}: a gallery named {name!r} exists already.")
                ident = sql.Identifier(schema)
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
                version = schema_mod.migrate(conn, ident, identity.embedding_size, 0)
                conn.execute(sql.SQL("INSERT INTO {}.gallery (name, schema_version, identity, created) "
                                     "VALUES (%s, %s, %s, " + NOW + ")").format(ident),
                             [name, version, json.dumps(identity.to_dict())])
                conn.execute(sql.SQL("INSERT INTO {}.models (id, identity) VALUES (1, %s)").format(ident), [identity.key()])
                conn.execute(sql.SQL("INSERT INTO {0}.meta (key, value) SELECT 'created', created::text FROM {0}.gallery "
                                     "UNION ALL VALUES ('identity', %s), ('quantize', 'none'), ('gallery_uid', %s)").format(ident),
                             [json.dumps(identity.to_dict()), uuid.uuid4().hex])
            schema_mod.prepare(conn, schema)
            return cls(conn, server, schema, identity, shown, ef_search)

    @classmethod
    def open_or_create(cls, url: str, identity: ModelIdentity, name: str | None = None, *,
                       ef_search: int = DEFAULT_EF_SEARCH) -> "PostgresStore":
        """The gallery, created when missing. Safe when several processes race to create it
        (creation is serialised by an advisory lock): one does, the others open it (and, like
        :meth:`open`, refuse another model with ModelMismatchError)."""
        try:
            return cls.create(url, identity, name, ef_search=ef_search)
        except _GalleryExists:
            return cls.open(url, identity, name, ef_search=ef_search)

    @classmethod
    def open(cls, url: str, identity: ModelIdentity | None = None, name: str | None = None, *,
             ef_search: int = DEFAULT_EF_SEARCH) -> "PostgresStore":
        """The gallery ``name`` (default "default", or the URL's ``gallery=``) at ``url``,
        migrated to the current layout. identity: the model in use (ModelMismatchError naming
        both when it differs from the gallery's and is not declared harmonic with it); None: take the gallery's. GalleryError when the
        server cannot be reached or holds no such gallery."""
        if identity is not None:
            check_type(identity, "identity", ModelIdentity, owner="PostgresStore.open")
        server, name, shown = split_url(url, name, "PostgresStore.open")
        schema = SCHEMA_PREFIX + name
        conn = connect(server, shown)
        psycopg = schema_mod.psycopg()
        sql = psycopg.sql
        with closing_on_error(conn, f"Cannot open the gallery {shown}"):
            if not schema_mod.is_gallery(conn, schema):
                others = schema_mod.galleries(conn)
                listed = f"galleries there: {', '.join(others)}" if others else "it holds none"
                raise GalleryError(f"{shown} is not a facenet gallery: the database holds no gallery named {name!r} "
                                   f"({listed}).")
            ident = sql.Identifier(schema)
            try:
                version, stored = conn.execute(sql.SQL("SELECT schema_version, identity FROM {}.gallery").format(ident)).fetchone()
                stored = ModelIdentity.from_dict(stored)
            except (psycopg.Error, TypeError, KeyError, ValueError) as exc:
                raise GalleryError(f"{shown} is not a facenet gallery (its gallery table is unreadable: "
                                   f"{first_line(exc)}).") from None
            if version > schema_mod.SCHEMA_VERSION:
                raise GalleryError(f"{shown} has gallery schema version {version}, newer than this facenet reads "
                                   f"({schema_mod.SCHEMA_VERSION}); upgrade facenet.")
            if version < schema_mod.SCHEMA_VERSION:
                with conn.transaction():
                    (version,) = conn.execute(sql.SQL("SELECT schema_version FROM {}.gallery FOR UPDATE").format(ident)).fetchone()
                    new = schema_mod.migrate(conn, ident, stored.embedding_size, version)
                    conn.execute(sql.SQL("UPDATE {}.gallery SET schema_version = %s").format(ident), [new])
            if identity is not None:
                check_comparable(stored, identity, what="the embeddings of the model in use")  # same or harmonic
            schema_mod.prepare(conn, schema)
            return cls(conn, server, schema, stored, shown, ef_search)

    @staticmethod
    def exists(url: str, name: str | None = None) -> bool:
        """Whether the database at ``url`` holds the gallery (GalleryError when unreachable)."""
        server, name, shown = split_url(url, name, "PostgresStore.exists")
        conn = connect(server, shown)
        with closing_on_error(conn, f"Cannot read the database {shown}"), conn:
            return schema_mod.is_gallery(conn, SCHEMA_PREFIX + name)

    @staticmethod
    def list_galleries(url: str) -> list[str]:
        """Names of the galleries in the database at ``url``."""
        server, _, shown = split_url(url, None, "PostgresStore.list_galleries")
        conn = connect(server, shown)
        with closing_on_error(conn, f"Cannot read the database {shown}"), conn:
            return schema_mod.galleries(conn)

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _tx(self, write: bool = False, atomic: bool = True) -> Iterator[Any]:
        """One transaction (a write one holds the gallery row's lock; not atomic: statements on
        their own) on the store's connection; psycopg errors -> one-line GalleryError."""
        psycopg = schema_mod.psycopg()
        with self._lock:
            if self._closed:
                raise GalleryError(f"The gallery {self.location} is closed.")
            if self._conn.closed or self._conn.broken:  # a lost connection: connect again for this call
                self._conn = connect(self._server_url, self.location)
                schema_mod.prepare(self._conn, self._schema)
                self._session_ef = 0
            try:
                if not atomic:
                    yield self._conn
                    return
                with self._conn.transaction():
                    if write:
                        self._conn.execute("SELECT generation FROM gallery FOR UPDATE")
                    yield self._conn
            except psycopg.Error as exc:
                raise GalleryError(f"The gallery {self.location}: {first_line(exc)}") from None

    @staticmethod
    def _bump(conn: Any) -> None:
        conn.execute("UPDATE gallery SET generation = generation + 1")

    @staticmethod
    def _subject_id(conn: Any, name: str, missing_ok: bool = False) -> int | None:
        row = conn.execute("SELECT id FROM subjects WHERE name = %s", [name]).fetchone()
        if row is None and not missing_ok:
            raise subject_not_found(name, [r[0] for r in conn.execute("SELECT name FROM subjects")])
        return None if row is None else int(row[0])

    @staticmethod
    def _record(row: tuple[Any, ...]) -> FaceRecord:
        fid, name, emb, sha, box, source, created, model = row
        return FaceRecord(int(fid), name, emb, sha or "", np.asarray(box, np.float32), source, float(created),
                          ModelIdentity.from_key(model))

    # ------------------------------------------------------------------ GalleryStore

    def generation(self) -> int:
        with self._tx() as conn:
            return int(conn.execute("SELECT generation FROM gallery").fetchone()[0])

    def add_faces(self, subject: str, faces: Sequence[NewFace], create: bool = True) -> list[int]:
        owner = "PostgresStore.add_faces"
        subject = check_subject_name(subject, "subject", owner)
        check_type(create, "create", bool, owner=owner, what="a bool")
        emb = check_new_faces(faces, self.identity, owner)
        keys = [m.key() for m in face_models(faces, self.identity)]
        with self._tx(write=True) as conn:
            rows = [(Vec(e), f.photo_sha256.lower() or None, [float(b) for b in f.box], f.source, mid)
                    for e, f, mid in zip(emb, faces, schema_mod.model_ids(conn, keys))]
            sid = self._subject_id(conn, subject, missing_ok=create)
            created = sid is None
            if sid is None:
                sid = conn.execute("INSERT INTO subjects (name, created) VALUES (%s, " + NOW + ") RETURNING id",
                                   [subject]).fetchone()[0]
            ids: list[int] = []
            if rows:
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO faces (subject_id, embedding, photo_sha256, box, source, created, model_id) "
                                    "VALUES (%s, %b, %s, %s, %s, " + NOW + ", %s) "
                                    "ON CONFLICT (subject_id, photo_sha256) DO NOTHING RETURNING id",
                                    [(sid, *r) for r in rows], returning=True)
                    while True:
                        ids.extend(int(r[0]) for r in cur.fetchall())
                        if not cur.nextset():
                            break
            if created or ids:
                self._bump(conn)
            return ids

    def bulk_add(self, items: Iterable[tuple[str, Sequence[NewFace]]], *, rebuild_index: bool | None = None) -> int:
        """Enrol many subjects' faces in ONE transaction (a gallery import): the add_faces rules
        (names checked, subjects created, photos already enrolled skipped), one generation bump,
        sent with one binary COPY. rebuild_index: drop the HNSW index and build it again after
        the insert (much faster than updating it face by face, but searches wait meanwhile);
        None: when the batch is larger than the gallery and pg_bulk.REBUILD_MIN_FACES. Returns faces added."""
        owner = "PostgresStore.bulk_add"
        rows: list[tuple[Any, ...]] = []
        keys: list[str] = []
        for subject, faces in items:
            name = check_subject_name(subject, "subject", owner)
            emb = check_new_faces(faces, self.identity, owner)
            rows.extend((name, Vec(e), f.photo_sha256.lower() or None, [float(b) for b in f.box], f.source)
                        for e, f in zip(emb, faces))
            keys.extend(m.key() for m in face_models(faces, self.identity))
        with self._tx(write=True) as conn:
            rows = [(*r, mid) for r, mid in zip(rows, schema_mod.model_ids(conn, keys))]
            made, added = pg_bulk.insert(conn, self._schema, rows, rebuild_index)
            if made or added:
                self._bump(conn)
            return added

    def subjects(self) -> list[SubjectSummary]:
        with self._tx() as conn:
            rows = conn.execute("SELECT s.name, count(f.id), s.created FROM subjects s LEFT JOIN faces f "
                                "ON f.subject_id = s.id GROUP BY s.id ORDER BY s.name").fetchall()
        return [SubjectSummary(n, int(c), float(t)) for n, c, t in rows]

    def counts(self) -> tuple[int, int]:
        with self._tx() as conn:
            n, f = conn.execute("SELECT (SELECT count(*) FROM subjects), (SELECT count(*) FROM faces)").fetchone()
        return int(n), int(f)

    def faces(self, subject: str | None = None) -> list[FaceRecord]:
        with self._tx() as conn, conn.cursor(binary=True) as cur:
            if subject is None:
                cur.execute(_FACE_SQL + " ORDER BY f.id")
            else:
                sid = self._subject_id(conn, check_subject_name(subject, "subject", "PostgresStore.faces"))
                cur.execute(_FACE_SQL + " WHERE f.subject_id = %s ORDER BY f.id", [sid])
            return [self._record(r) for r in cur.fetchall()]

    def rename(self, old: str, new: str) -> None:
        old, new = check_subject_name(old, "old", "PostgresStore.rename"), check_subject_name(new, "new", "PostgresStore.rename")
        with self._tx(write=True) as conn:
            sid = self._subject_id(conn, old)
            if old == new:
                return
            if self._subject_id(conn, new, missing_ok=True) is not None:
                raise SubjectExistsError(f"Cannot rename {old!r} to {new!r}: a subject named {new!r} already exists "
                                         f"(merge them instead).")
            conn.execute("UPDATE subjects SET name = %s WHERE id = %s", [new, sid])
            self._bump(conn)

    def merge(self, source: str, target: str) -> int:
        source = check_subject_name(source, "source", "PostgresStore.merge")
        target = check_subject_name(target, "target", "PostgresStore.merge")
        if source == target:
            raise ValueError(f"Cannot merge {source!r} into itself.")
        with self._tx(write=True) as conn:
            src, dst = self._subject_id(conn, source), self._subject_id(conn, target)
            # a photo that both hold stays once, with the target
            conn.execute("DELETE FROM faces f WHERE f.subject_id = %s AND f.photo_sha256 IS NOT NULL AND EXISTS "
                         "(SELECT 1 FROM faces t WHERE t.subject_id = %s AND t.photo_sha256 = f.photo_sha256)", [src, dst])
            moved = conn.execute("UPDATE faces SET subject_id = %s WHERE subject_id = %s", [dst, src]).rowcount
            conn.execute("DELETE FROM subjects WHERE id = %s", [src])
            self._bump(conn)
            return int(moved)

    def remove_subject(self, name: str) -> int:
        name = check_subject_name(name, "name", "PostgresStore.remove_subject")
        with self._tx(write=True) as conn:
            sid = self._subject_id(conn, name)
            n = conn.execute("DELETE FROM faces WHERE subject_id = %s", [sid]).rowcount
            conn.execute("DELETE FROM subjects WHERE id = %s", [sid])
            self._bump(conn)
            return int(n)

    def remove_faces(self, face_ids: Sequence[int]) -> int:
        ids = [check_scalar(i, "face_ids", int, owner="PostgresStore.remove_faces") for i in face_ids]
        if not ids:
            return 0
        with self._tx(write=True) as conn:
            n = conn.execute("DELETE FROM faces WHERE id = ANY(%s::bigint[])", [ids]).rowcount
            if n:
                self._bump(conn)
            return int(n)

    def get_meta(self, key: str) -> str | None:
        check_type(key, "key", str, owner="PostgresStore.get_meta", what="a string")
        with self._tx() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = %s", [key]).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        """Store a user setting (not a change of faces: ``generation`` stays). Reserved keys are refused."""
        check_meta_key(key, value, "PostgresStore.set_meta")
        with self._tx() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                         [key, value])

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> "PostgresStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ search

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest faces of each query by pgvector's HNSW index, in the database.

        queries: (Q, D) float32, unit norm (a (D,) vector is one query). Returns (squared L2
        distances (Q, k) float32 in [0, 4], ascending; face ids (Q, k) int64), padded with
        id -1 at distance 4 when the gallery holds fewer than k faces — the shape of
        FaceIndex.search. Approximate (HNSW, ``hnsw.ef_search`` = max(ef_search, k), at most 1000).
        """
        k = check_scalar(k, "k", int, min_val=1, owner="PostgresStore.search")
        q = pg_search.check_queries(queries, self.identity.embedding_size, "PostgresStore.search")
        with self._tx(atomic=False) as conn:  # each query a statement of its own: one round trip for one query
            (dist, ids), self._session_ef = pg_search.search_faces(conn, q, k, self._session_ef, self.ef_search)
        return dist, ids

    def search_subjects(self, queries: np.ndarray, k: int) -> list[list[SubjectHit]]:
        """The k nearest *subjects* of each query (each at its nearest face's distance, with that
        face's id), so that several photos of one person never fill the list; fewer when the
        gallery holds fewer subjects. The names come with the faces — the shape of
        FaceIndex.search_subjects."""
        k = check_scalar(k, "k", int, min_val=1, owner="PostgresStore.search_subjects")
        q = pg_search.check_queries(queries, self.identity.embedding_size, "PostgresStore.search_subjects")
        with self._tx(atomic=False) as conn:
            hits, self._session_ef = pg_search.search_subjects(conn, q, k, self._session_ef, self.ef_search)
        return hits
