"""SQLiteStore specifics: files that are not galleries, the model identity, WAL and the busy
timeout, 8-bit storage, the migration runner, threads."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading

import numpy as np
import pytest

from facenet.gallery import sqlite_schema, sqlite_store
from facenet.gallery.sqlite_store import MIGRATIONS, SQLiteStore, decode, encode, migrate
from facenet.gallery.store import SCHEMA_VERSION, GalleryError, ModelMismatchError


@pytest.fixture
def gallery(tmp_path, identity, make_faces):
    s = SQLiteStore.create(tmp_path / "g.db", identity)
    s.add_faces("Ann", make_faces(3))
    yield s
    s.close()


def _raw(store: SQLiteStore) -> sqlite3.Connection:
    return sqlite3.connect(store.path)


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)), "not an SQLite database"),
    (b"SQLite format 3\x00" + b"\x00" * 200, "not a usable gallery"),
])
def test_files_that_are_not_galleries(tmp_path, identity, content, words):
    p = tmp_path / "x.db"
    p.write_bytes(content)
    with pytest.raises(GalleryError, match=words):
        SQLiteStore.open(p)
    with pytest.raises(GalleryError, match=words):
        SQLiteStore.open(p, identity)
    if content:
        with pytest.raises(GalleryError, match="already exists|not a usable gallery"):
            SQLiteStore.create(p, identity)
        assert p.read_bytes() == content, "a file that is not a gallery is never touched"


def test_other_sqlite_databases(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE songs (title TEXT)")
    with pytest.raises(GalleryError, match="another application's SQLite database"):
        SQLiteStore.open(other)
    empty = tmp_path / "empty.db"
    with sqlite3.connect(empty) as c:
        c.execute("PRAGMA user_version = 7")  # a database file with no tables
    assert empty.stat().st_size > 0
    with pytest.raises(GalleryError, match="not a facenet gallery \\(an empty SQLite database\\)"):
        SQLiteStore.open(empty)


def test_missing_and_folder(tmp_path):
    with pytest.raises(GalleryError, match="does not exist"):
        SQLiteStore.open(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists(), "open never creates a file"
    with pytest.raises(GalleryError, match="not a file"):
        SQLiteStore.open(tmp_path)


def test_create_refuses_an_existing_gallery(gallery, identity):
    with pytest.raises(GalleryError, match="already exists"):
        SQLiteStore.create(gallery.path, identity)
    assert [x.n_faces for x in gallery.subjects()] == [3]


def test_newer_schema_refused(gallery):
    with _raw(gallery) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(GalleryError, match=f"schema v{SCHEMA_VERSION + 1}, newer"):
        SQLiteStore.open(gallery.path)


def test_identity_read_or_checked(gallery, identity):
    gallery.close()
    assert SQLiteStore.open(gallery.path).identity == identity
    assert SQLiteStore.open(gallery.path, identity).identity == identity
    for change in ({"weights_sha256": "cd" * 32}, {"flip": True}, {"model": "arcface"}):
        other = dataclasses.replace(identity, **change)
        with pytest.raises(ModelMismatchError) as info:
            SQLiteStore.open(gallery.path, other)
        assert identity.describe() in str(info.value) and other.describe() in str(info.value)


def test_damaged_identity_or_embedding(gallery):
    with _raw(gallery) as c:
        c.execute("UPDATE faces SET embedding = x'0102' WHERE id = (SELECT MIN(id) FROM faces)")
    with pytest.raises(GalleryError, match="wrong size"):
        gallery.all_embeddings()
    with _raw(gallery) as c:
        c.execute("UPDATE meta SET value = '{broken' WHERE key = 'identity'")
    gallery.close()
    with pytest.raises(GalleryError, match="model identity cannot be read"):
        SQLiteStore.open(gallery.path)


def test_pragmas(gallery):
    with _raw(gallery) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA application_id").fetchone()[0] == sqlite_store.APPLICATION_ID
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert c.execute("SELECT length(embedding) FROM faces").fetchall() == [(16 * 4,)] * 3
        meta = dict(c.execute("SELECT key, value FROM meta"))
    assert meta["quantize"] == "none" and len(meta["gallery_uid"]) == 32 and float(meta["created"]) > 1.6e9
    conn = gallery._live()
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    gallery.remove_subject("Ann")
    with _raw(gallery) as c:
        assert c.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 0, "faces go with their subject"


def test_busy_writer_waits_then_times_out(tmp_path, identity, make_faces):
    path = tmp_path / "g.db"
    SQLiteStore.create(path, identity).close()
    patient, hasty = SQLiteStore.open(path), SQLiteStore.open(path, timeout=0.2)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process's write transaction
    with pytest.raises(GalleryError, match="busy"):
        hasty.add_faces("Ann", make_faces(1))
    done: list[list[int]] = []
    writer = threading.Thread(target=lambda: done.append(patient.add_faces("Ann", make_faces(1))))
    writer.start()
    writer.join(0.5)
    assert writer.is_alive() and done == [], "the writer waits while another transaction is open"
    blocker.execute("COMMIT")
    writer.join(10)
    assert len(done) == 1 and len(done[0]) == 1, "and goes ahead when it ends"
    assert len(hasty.all_embeddings()[0]) == 1
    for s in (patient, hasty):
        s.close()
    blocker.close()


def test_reads_go_on_during_a_write(gallery, make_faces):
    blocker = sqlite3.connect(gallery.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("DELETE FROM faces")
    assert len(gallery.all_embeddings()[0]) == 3, "WAL: readers see the last commit, not the open write"
    blocker.execute("ROLLBACK")


def test_int8_round_trip(tmp_path, identity, unit_vectors, make_faces):
    x = unit_vectors(500, dim=128, seed=3)
    q = np.frombuffer(b"".join(encode(x, "int8")), dtype=np.int8).reshape(500, 128)
    assert np.abs(q.astype(np.float32) / 127 - x).max() <= 1 / 254 + 1e-7
    back = decode(encode(x, "int8"), 128, "int8")
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), 1, atol=1e-6)
    assert np.abs(back - x).max() < 0.02
    assert np.abs(np.sum(back * x, axis=1) - 1).max() < 1e-3, "8-bit storage keeps cosine similarity"
    np.testing.assert_array_equal(decode(encode(x, "none"), 128, "none"), x)

    s = SQLiteStore.create(tmp_path / "q.db", identity, quantize="int8")
    faces = make_faces(4)
    s.add_faces("Ann", faces)
    s.close()
    s = SQLiteStore.open(tmp_path / "q.db")
    assert s.quantize == "int8"
    with _raw(s) as c:
        assert c.execute("SELECT length(embedding) FROM faces").fetchall() == [(16,)] * 4
    emb = s.all_embeddings()[1]
    assert np.abs(emb - np.stack([f.embedding for f in faces])).max() < 0.03
    s.close()
    with pytest.raises(ValueError, match="'quantize' parameter"):
        SQLiteStore.create(tmp_path / "z.db", identity, quantize="int4")


def test_migration_runner(gallery, make_faces):
    assert len(MIGRATIONS) == SCHEMA_VERSION
    gallery.close()

    def add_column(conn):
        conn.execute("ALTER TABLE faces ADD COLUMN quality REAL")

    def broken(conn):
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("step failed")

    conn = sqlite3.connect(gallery.path, isolation_level=None)
    assert migrate(conn, MIGRATIONS) == SCHEMA_VERSION, "an up-to-date gallery: nothing to run"
    with pytest.raises(RuntimeError):
        migrate(conn, (*MIGRATIONS, broken))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION, "a failed step changes nothing"
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    assert migrate(conn, (*MIGRATIONS, add_column)) == SCHEMA_VERSION
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert conn.execute("SELECT COUNT(quality), COUNT(*) FROM faces").fetchone() == (0, 3), "data kept"
    conn.close()
    # every gallery was made by the runner from v0: a fresh file gets exactly the steps' schema
    blank = sqlite3.connect(gallery.path.parent / "v0.db", isolation_level=None)
    assert migrate(blank) == 0 and blank.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    blank.close()


def test_open_migrates_an_old_gallery(gallery, monkeypatch):
    gallery.close()

    def v2(conn):
        conn.execute("CREATE TABLE notes (text TEXT)")

    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", (*MIGRATIONS, v2))
    s = SQLiteStore.open(gallery.path)
    with _raw(s) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert c.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0
    assert [x.n_faces for x in s.subjects()] == [3]
    s.close()


def test_reserved_meta_and_closed(gallery):
    for key in ("identity", "quantize", "gallery_uid", ""):
        with pytest.raises(ValueError, match="'key' parameter"):
            gallery.set_meta(key, "x")
    gallery.close()
    gallery.close()
    with pytest.raises(GalleryError, match="closed"):
        gallery.subjects()


def test_threads_share_a_store(gallery, make_faces):
    errors: list[BaseException] = []

    def enrol(t: int) -> None:
        try:
            for i in range(10):
                gallery.add_faces(f"t{t}-{i}", make_faces(5, seed=100 * t + i + 1))
                gallery.all_embeddings()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=enrol, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(gallery.subjects()) == 41 and len(gallery.all_embeddings()[0]) == 3 + 200


def test_open_or_create_races(tmp_path, identity, make_faces):
    path = tmp_path / "new.db"
    stores, errors = [], []

    def go() -> None:
        try:
            stores.append(SQLiteStore.open_or_create(path, identity))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(stores) == 6
    stores[0].add_faces("Ann", make_faces(1))
    assert all(len(s.subjects()) == 1 for s in stores), "one gallery, made once"
    assert len({s.get_meta("gallery_uid") for s in stores}) == 1
    for s in stores:
        s.close()
    with pytest.raises(ModelMismatchError):
        SQLiteStore.open_or_create(path, dataclasses.replace(identity, flip=True))
    other = tmp_path / "other.db"
    other.write_bytes(b"not a gallery at all")
    with pytest.raises(GalleryError, match="not an SQLite database"):
        SQLiteStore.open_or_create(other, identity)
    assert other.read_bytes() == b"not a gallery at all"


def test_open_or_create_leaves_other_databases_alone(tmp_path, identity):
    other = tmp_path / "songs.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE songs (title TEXT)")
    before = other.read_bytes()
    with pytest.raises(GalleryError, match="another application's SQLite database"):
        SQLiteStore.open_or_create(other, identity)
    assert other.read_bytes() == before
    with sqlite3.connect(other) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_large_bulk_add_matches_add_faces(tmp_path, identity, make_faces):
    """The set-based import (one statement for the subjects, one for the faces, a larger page
    cache) gives what add_faces one subject at a time gives, and leaves the cache as it was."""
    faces = make_faces(12_000)
    items = [(f"p{i}", faces[i:i + 10]) for i in range(0, len(faces), 10)]
    items.append(("p0", faces[:2] + make_faces(1, seed=7)))  # the same subject again: its known photos are skipped
    bulk = SQLiteStore.create(tmp_path / "bulk.db", identity)
    one = SQLiteStore.create(tmp_path / "one.db", identity)
    cache = bulk._live().execute("PRAGMA cache_size").fetchone()[0]
    assert bulk.bulk_add(items) == 12_001 and bulk.generation() == 1
    assert bulk._live().execute("PRAGMA cache_size").fetchone()[0] == cache
    for name, fs in items:
        one.add_faces(name, fs)
    a, b = bulk.faces(), one.faces()
    assert [(f.face_id, f.subject, f.photo_sha256, f.source) for f in a] == [(f.face_id, f.subject, f.photo_sha256, f.source) for f in b]
    assert all(np.array_equal(f.embedding, g.embedding) and np.array_equal(f.box, g.box) for f, g in zip(a, b))
    assert [s.name for s in bulk.subjects()] == [s.name for s in one.subjects()]
    bad = [("q", make_faces(11_000, seed=2)), ("r", [dataclasses.replace(make_faces(1, seed=3)[0], box=(1.0, 2.0))])]
    with pytest.raises(ValueError, match="box"):
        bulk.bulk_add(bad)
    assert bulk.generation() == 1 and len(bulk.faces()) == 12_001, "a refused import writes nothing"
    bulk.close()
    one.close()
