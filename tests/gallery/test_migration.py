"""Schema v1 -> v2 (per-face model identity) on both backends: a gallery written by the v1 layout
opens, every face is the gallery's model's, nothing else changes, and faces of another model can
then be added."""

from __future__ import annotations

import dataclasses
import json
import secrets
import sqlite3
import time
import uuid

import numpy as np

from facenet.gallery import pg_schema, sqlite_schema
from facenet.gallery.postgres_store import PostgresStore
from facenet.gallery.quantize import encode
from facenet.gallery.sqlite_store import SQLiteStore
from facenet.gallery.store import SCHEMA_VERSION, NewFace


def _v1_sqlite(path, identity, faces) -> None:
    """A gallery file as facenet's schema v1 wrote it: the v1 step, its meta rows, subjects, faces."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA application_id = {sqlite_schema.APPLICATION_ID}")
    sqlite_schema.migrate(conn, sqlite_schema.MIGRATIONS[:1])
    meta = {"identity": json.dumps(identity.to_dict(), sort_keys=True), "quantize": "none",
            "gallery_uid": uuid.uuid4().hex, "created": repr(time.time())}
    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
    conn.execute("INSERT INTO subjects (name, created) VALUES ('Ann', 0)")
    for f, blob in zip(faces, encode(np.stack([f.embedding for f in faces]), "none")):
        conn.execute("INSERT INTO faces (subject_id, embedding, photo_sha256, x1, y1, x2, y2, source, created) "
                     "VALUES (1, ?, ?, ?, ?, ?, ?, ?, 0)", (blob, f.photo_sha256, *f.box, f.source))
    conn.execute("UPDATE state SET generation = 7")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


def test_sqlite_v1_gallery_is_migrated(tmp_path, identity, make_faces):
    path = tmp_path / "old.gallery"
    faces = make_faces(3)
    _v1_sqlite(path, identity, faces)
    s = SQLiteStore.open(path, identity)
    assert s.generation() == 7, "a migration is not a change of faces"
    got = s.faces("Ann")
    assert [f.model for f in got] == [identity] * 3 and [f.photo_sha256 for f in got] == [f.photo_sha256 for f in faces]
    np.testing.assert_array_equal(np.stack([f.embedding for f in got]), np.stack([f.embedding for f in faces]))
    assert s.model_counts() == {identity: 3}
    new = dataclasses.replace(identity, model="fused", weights_sha256="cd" * 32)
    s.add_faces("Ann", [dataclasses.replace(make_faces(1, seed=2)[0], model=new)])
    assert s.model_counts() == {identity: 3, new: 1}
    s.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert conn.execute("SELECT id FROM models WHERE identity = ?", (identity.key(),)).fetchone() == (1,)
    conn.close()
    assert SQLiteStore.open(path).model_counts() == {identity: 3, new: 1}, "opened again: nothing to migrate"


def test_postgres_v1_gallery_is_migrated(pg_url, identity, make_faces):
    import psycopg

    name = "m" + secrets.token_hex(5)
    schema = f"facenet_{name}"
    with PostgresStore.create(pg_url, identity, name=name) as s:
        s.add_faces("Ann", make_faces(3))
        generation = s.generation()
    with psycopg.connect(pg_url, autocommit=True) as conn:  # back to the v1 layout (pg_schema._create_v1)
        conn.execute(f"ALTER TABLE {schema}.faces DROP COLUMN model_id")
        conn.execute(f"DROP TABLE {schema}.models")
        conn.execute(f"UPDATE {schema}.gallery SET schema_version = 1")
    with PostgresStore.open(pg_url, identity, name) as s:
        assert s.generation() == generation
        assert [f.model for f in s.faces("Ann")] == [identity] * 3 and s.model_counts() == {identity: 3}
        new = dataclasses.replace(identity, model="fused", weights_sha256="cd" * 32)
        s.add_faces("Ann", [NewFace(make_faces(1, seed=2)[0].embedding, model=new)])
        assert s.model_counts() == {identity: 3, new: 1}
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute(f"SELECT schema_version FROM {schema}.gallery").fetchone() == (pg_schema.SCHEMA_VERSION,)
        assert conn.execute(f"SELECT id FROM {schema}.models WHERE identity = %s", [identity.key()]).fetchone() == (1,)


def test_new_galleries_start_at_the_current_schema(tmp_path, identity):
    with SQLiteStore.create(tmp_path / "new.gallery", identity) as s:
        assert s.model_counts() == {}
    conn = sqlite3.connect(tmp_path / "new.gallery")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT id, identity FROM models").fetchall() == [(1, identity.key())]
    conn.close()
