"""FaceIndex: exact search against brute force, HNSW recall on structured data, saved index
files (stale, corrupt, missing: rebuilt), incremental adds, per-subject results, threads."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from facenet.gallery.index import FaceIndex, IndexOptions, best_per_subject, index_path_for
from facenet.gallery.sqlite_store import SQLiteStore


def _structured(n_ids: int, per_id: int, dim: int = 128, spread: float = 0.8, seed: int = 0):
    """Identity centres on the sphere plus per-face noise (same-identity squared distances ~0.8,
    different ~2, like real face embeddings), and probes: new faces of the same identities."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def around(labels: np.ndarray) -> np.ndarray:
        x = centres[labels] + spread * rng.standard_normal((len(labels), dim)).astype(np.float32) / np.sqrt(dim)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    labels = np.repeat(np.arange(n_ids), per_id)
    return around(labels), labels, around(rng.integers(0, n_ids, 500))


def _brute(emb: np.ndarray, q: np.ndarray, k: int):
    d = ((q[:, None, :] - emb[None, :, :]) ** 2).sum(-1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, axis=1), order


@pytest.fixture
def store(tmp_path, identity):
    s = SQLiteStore.create(tmp_path / "g.db", identity)
    yield s
    s.close()


def test_exact_equals_brute_force(unit_vectors):
    emb, q = unit_vectors(60, seed=1), unit_vectors(7, seed=2)
    ids = np.arange(60) * 10 + 5
    index = FaceIndex.from_arrays(ids, emb, [f"s{i % 9}" for i in range(60)])
    assert index.kind == "exact" and len(index) == 60
    dist, got = index.search(q, 5)
    want_d, want_pos = _brute(emb, q, 5)
    np.testing.assert_array_equal(got, ids[want_pos])
    np.testing.assert_allclose(dist, want_d, atol=1e-5)
    assert dist.dtype == np.float32 and got.dtype == np.int64
    assert index.subject_of([5, 15, 7, -1]) == ["s0", "s1", None, None]


def test_padding_and_empty(unit_vectors):
    emb = unit_vectors(3)
    dist, ids = FaceIndex.from_arrays([1, 2, 3], emb, ["a", "b", "c"]).search(emb[:2], 5)
    assert (ids[:, 3:] == -1).all() and (dist[:, 3:] == 4.0).all()
    assert ids[0, 0] == 1 and dist[0, 0] < 1e-6
    empty = FaceIndex.from_arrays(np.zeros(0, np.int64), np.zeros((0, 16), np.float32), [])
    dist, ids = empty.search(emb, 2)
    assert (ids == -1).all() and (dist == 4.0).all() and empty.search_subjects(emb, 3) == [[], [], []]


def test_distances_clipped(unit_vectors):
    e = unit_vectors(1)
    dist, _ = FaceIndex.from_arrays([1, 2], np.vstack([e, -e]), ["a", "b"]).search(e, 2)
    assert dist.min() >= 0.0 and dist.max() <= 4.0 and dist[0, 1] == pytest.approx(4.0, abs=1e-5)


def test_bad_queries(unit_vectors):
    index = FaceIndex.from_arrays([1], unit_vectors(1), ["a"])
    with pytest.raises(ValueError, match=r"shape \(Q, 16\)"):
        index.search(unit_vectors(2, dim=8), 1)
    with pytest.raises(ValueError, match=r"The 'k' parameter of FaceIndex.search must be an int in \[1, inf\)"):
        index.search(unit_vectors(1), 0)
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.full((1, 16), np.nan, np.float32), 1)
    with pytest.raises(ValueError, match="'ef_search' parameter of IndexOptions"):
        IndexOptions(ef_search=0)


def test_hnsw_recall_on_structured_data():
    emb, labels, probes = _structured(2500, 4)
    ids = np.arange(len(emb))
    exact = FaceIndex.from_arrays(ids, emb, [str(x) for x in labels])
    opts = IndexOptions(exact_threshold=5000, ef_construction=64)  # the default search beam; a cheaper build
    hnsw = FaceIndex.from_arrays(ids, emb, [str(x) for x in labels], options=opts)
    assert exact.kind == "exact" and hnsw.kind == "hnsw_sq8"
    _, truth = exact.search(probes, 1)
    _, got = hnsw.search(probes, 1)
    recall = float((got[:, 0] == truth[:, 0]).mean())
    assert recall >= 0.99, f"recall@1 {recall:.3f} with the default ef_search"
    narrow = FaceIndex(hnsw._state, hnsw.dim, IndexOptions(exact_threshold=5000, ef_search=2))
    _, rough = narrow.search(probes, 1)
    assert (rough[:, 0] == truth[:, 0]).mean() < 0.95, "the probes are hard enough for the beam width to matter"
    two = FaceIndex(hnsw._state, hnsw.dim, IndexOptions(exact_threshold=5000, threads=2))
    np.testing.assert_array_equal(two.search(probes[:20], 3)[1], hnsw.search(probes[:20], 3)[1])


def test_kind_follows_the_threshold(unit_vectors):
    emb = unit_vectors(20)
    names = ["a"] * 20
    assert FaceIndex.from_arrays(np.arange(20), emb, names, options=IndexOptions(exact_threshold=21)).kind == "exact"
    assert FaceIndex.from_arrays(np.arange(20), emb, names, options=IndexOptions(exact_threshold=20)).kind == "hnsw_sq8"
    old = IndexOptions(exact_threshold=20, hnsw_codes="float32")
    assert FaceIndex.from_arrays(np.arange(20), emb, names, options=old).kind == "hnsw"
    with pytest.raises(ValueError, match="'hnsw_codes' parameter of IndexOptions"):
        IndexOptions(hnsw_codes="int4")


def test_saved_index_used_only_when_current(store, make_faces, tmp_path):
    path = index_path_for(store.path)
    assert path.name == "g.db.faiss"
    store.add_faces("Ann", make_faces(5))
    first = FaceIndex.open(store, path)
    assert first.source == "built" and first.rebuild_reason == "no index file"
    assert path.exists() and path.with_name("g.db.faiss.json").exists()
    again = FaceIndex.open(store, path)
    assert again.source == "file" and again.generation == store.generation()
    q = store.all_embeddings()[1]
    np.testing.assert_array_equal(again.search(q, 3)[1], first.search(q, 3)[1])
    assert again.subject_of(store.all_embeddings()[0]) == ["Ann"] * 5

    store.add_faces("Bob", make_faces(2, seed=1))
    stale = FaceIndex.open(store, path)  # older than the gallery: caught up (the 2 appended faces), not rebuilt
    assert stale.source == "file" and stale.builds == 0 and "2 face(s) added" in stale.followed
    assert stale.generation == store.generation() and stale.subject_of(store.all_embeddings()[0]) == ["Ann"] * 5 + ["Bob"] * 2
    again = FaceIndex.open(store, path)
    assert len(stale) == 7 and again.source == "file" and again.followed is None, "the caught-up index was saved"


@pytest.mark.parametrize("damage, words", [
    (lambda p, s: p.write_bytes(p.read_bytes()[:-10] + b"0123456789"), "checksum"),
    (lambda p, s: p.unlink(), "no index file"),
    (lambda p, s: s.unlink(), "no index file"),
    (lambda p, s: s.write_text("{not json"), "unreadable"),
    (lambda p, s: s.write_text(json.dumps({**json.loads(s.read_text()), "format": 99})), "format"),
    (lambda p, s: s.write_text(json.dumps({**json.loads(s.read_text()), "gallery_uid": "other"})), "gallery uid"),
])
def test_damaged_index_files_are_rebuilt(store, make_faces, damage, words):
    path = index_path_for(store.path)
    store.add_faces("Ann", make_faces(5))
    good = FaceIndex.open(store, path)
    damage(path, path.with_name(path.name + ".json"))
    index = FaceIndex.open(store, path)
    assert index.source == "built" and words in index.rebuild_reason
    q = store.all_embeddings()[1]
    np.testing.assert_array_equal(index.search(q, 2)[1], good.search(q, 2)[1])
    assert FaceIndex.open(store, path).source == "file", "the rebuilt index was saved"


def test_forged_checksum_on_garbage_is_rebuilt(store, make_faces):
    import hashlib

    path = index_path_for(store.path)
    store.add_faces("Ann", make_faces(5))
    FaceIndex.open(store, path)
    garbage = b"PK\x03\x04 not really an archive"
    side = path.with_name(path.name + ".json")
    meta = json.loads(side.read_text())
    path.write_bytes(garbage)
    side.write_text(json.dumps({**meta, "sha256": hashlib.sha256(garbage).hexdigest()}))
    index = FaceIndex.open(store, path)
    assert index.source == "built" and "corrupt" in index.rebuild_reason and len(index) == 5


def test_other_settings_are_used_as_they_are_until_reindex(store, make_faces):
    path = index_path_for(store.path)
    store.add_faces("Ann", make_faces(30))
    FaceIndex.open(store, path)
    kept = FaceIndex.open(store, path, IndexOptions(exact_threshold=10))  # other settings: used as it is, reported
    assert kept.source == "file" and kept.kind == "exact" and kept.builds == 0
    d = kept.describe()
    assert not d["current"] and d["current_settings"] == {"kind": "hnsw_sq8", "m": 48, "ef_construction": 200}
    assert "reindex" in d["hint"]
    assert kept.reindex(store)["current"] and kept.kind == "hnsw_sq8" and kept.builds == 1
    hnsw = FaceIndex.open(store, path, IndexOptions(exact_threshold=10))
    assert hnsw.source == "file" and hnsw.kind == "hnsw_sq8" and hnsw.describe()["current"], "reindex saved it"
    assert FaceIndex.open(store, path, IndexOptions(exact_threshold=10, ef_search=7)).describe()["current"]
    other = FaceIndex.open(store, path, IndexOptions(exact_threshold=10, m=16)).describe()
    assert other["source"] == "file" and (other["m"], other["ef_construction"]) == (48, 200) and not other["current"]


def test_unsaved_and_unwritable(store, make_faces, tmp_path):
    store.add_faces("Ann", make_faces(2))
    assert len(FaceIndex.open(store, None)) == 2
    blocked = tmp_path / "no-such-folder" / "x.faiss"
    index = FaceIndex.open(store, blocked)
    assert len(index) == 2 and "not saved" in index.rebuild_reason


def test_incremental_add_matches_a_rebuild(store, make_faces):
    store.add_faces("Ann", make_faces(4))
    index = FaceIndex.build(store)
    before = store.generation()
    faces = make_faces(3, seed=1)
    ids = store.add_faces("Bob", faces)
    assert index.add(ids, np.stack([f.embedding for f in faces]), "Bob", before=before, after=store.generation())
    fresh = FaceIndex.build(store)
    q = store.all_embeddings()[1]
    assert index.generation == fresh.generation
    np.testing.assert_array_equal(index.search(q, 4)[1], fresh.search(q, 4)[1])
    assert index.subject_of(ids) == ["Bob"] * 3
    # a no-op enrolment moves nothing
    g = store.generation()
    assert store.add_faces("Bob", faces) == []
    assert index.add([], np.zeros((0, 16), np.float32), "Bob", before=g, after=store.generation())


def test_add_after_another_change_rebuilds(store, make_faces):
    store.add_faces("Ann", make_faces(4))
    index = FaceIndex.build(store)
    before = store.generation()
    faces = make_faces(2, seed=1)
    ids = store.add_faces("Bob", faces)
    store.rename("Ann", "Anna")  # someone else's change lands before we look
    emb = np.stack([f.embedding for f in faces])
    assert not index.add(ids, emb, "Bob", before=before, after=store.generation(), store=store)
    assert index.generation == store.generation() and index.subject_of(store.all_embeddings()[0])[0] == "Anna"
    # our no-op with someone else's change in between: not mistaken for nothing
    g = store.generation()
    store.add_faces("Carl", make_faces(1, seed=2))
    assert not index.add([], np.zeros((0, 16), np.float32), "Bob", before=g, after=store.generation(), store=store)
    assert len(index) == 7


def test_crossing_the_threshold_rebuilds_as_hnsw(store, make_faces):
    store.add_faces("Ann", make_faces(9))
    index = FaceIndex.build(store, IndexOptions(exact_threshold=10))
    before = store.generation()
    faces = make_faces(2, seed=1)
    ids = store.add_faces("Bob", faces)
    assert not index.add(ids, np.stack([f.embedding for f in faces]), "Bob", before=before,
                         after=store.generation(), store=store)
    assert index.kind == "hnsw_sq8" and len(index) == 11


def test_refresh(store, make_faces):
    index = FaceIndex.build(store)
    assert not index.refresh(store)
    store.add_faces("Ann", make_faces(2))
    assert index.refresh(store) and len(index) == 2
    assert index.describe()["faces"] == 2


def test_best_per_subject_by_hand():
    d = np.array([[0.5, 0.1, 0.3, 0.2, 4.0], [0.9, 0.8, 0.7, 0.6, 0.5]], np.float32)
    lab = np.array([[1, 2, 1, 2, -1], [3, 3, 3, 3, 3]])
    out_d, out_l, out_c = best_per_subject(d, lab, 3)
    np.testing.assert_allclose(out_d, [[0.1, 0.3, 4.0], [0.5, 4.0, 4.0]])
    np.testing.assert_array_equal(out_l, [[2, 1, -1], [3, -1, -1]])
    np.testing.assert_array_equal(out_c, [[1, 2, -1], [4, -1, -1]])


def test_search_subjects_against_brute_force():
    emb, labels, probes = _structured(30, 12, dim=16, spread=0.6, seed=4)
    names = [f"p{x}" for x in labels]
    index = FaceIndex.from_arrays(np.arange(len(emb)) + 100, emb, names)
    hits = index.search_subjects(probes[:40], 5)
    d = ((probes[:40, None, :] - emb[None]) ** 2).sum(-1)
    for row, got in enumerate(hits):
        per = {n: d[row, labels == int(n[1:])].min() for n in set(names)}
        want = sorted(per, key=per.get)[:5]
        assert [h.subject for h in got] == want
        np.testing.assert_allclose([h.distance for h in got], [per[n] for n in want], atol=1e-5)
        assert all(names[h.face_id - 100] == h.subject for h in got)


def test_search_subjects_widens_past_one_crowded_subject(unit_vectors):
    q = unit_vectors(1, seed=5)
    crowd = q + 0.01 * unit_vectors(200, seed=6)
    crowd /= np.linalg.norm(crowd, axis=1, keepdims=True)
    emb = np.vstack([crowd, unit_vectors(5, seed=7)]).astype(np.float32)
    names = ["Crowd"] * 200 + [f"o{i}" for i in range(5)]
    hits = FaceIndex.from_arrays(np.arange(205), emb, names).search_subjects(q, 4)[0]
    assert len(hits) == 4 and hits[0].subject == "Crowd" and len({h.subject for h in hits}) == 4
    assert len(FaceIndex.from_arrays(np.arange(205), emb, names).search_subjects(q, 10)[0]) == 6


def test_searches_run_while_faces_are_added(store, make_faces):
    store.add_faces("seed", make_faces(20))
    index = FaceIndex.build(store)
    queries = store.all_embeddings()[1]
    errors: list[BaseException] = []
    stop = threading.Event()

    def search() -> None:
        try:
            while not stop.is_set():
                dist, ids = index.search(queries, 1)
                assert (dist[:, 0] < 1e-4).all() and (ids[:, 0] > 0).all()
                index.search_subjects(queries[:3], 2)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    readers = [threading.Thread(target=search) for _ in range(4)]
    for t in readers:
        t.start()
    for i in range(30):
        before = store.generation()
        faces = make_faces(3, seed=i + 1)
        ids = store.add_faces(f"p{i}", faces)
        index.add(ids, np.stack([f.embedding for f in faces]), f"p{i}", before=before, after=store.generation(),
                  store=store)
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert len(index) == 110 and np.array_equal(index.face_ids(), store.all_embeddings()[0])


def test_save_clears_old_leftovers_of_killed_saves(store, make_faces):
    import os
    import time

    path = index_path_for(store.path)
    old, fresh = path.with_name(path.name + ".abc.tmp"), path.with_name(path.name + ".json.def.tmp")
    for p in (old, fresh):
        p.write_bytes(b"half a file")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    store.add_faces("Ann", make_faces(2))
    FaceIndex.open(store, path)
    assert not old.exists() and fresh.exists(), "an hour-old leftover goes; a save that may be running stays"


def test_ef_search_follows_the_gallery_size():
    auto = IndexOptions()
    assert auto.ef_search is None
    assert [auto.ef_for(n) for n in (100_000, 1_000_000)] == [256, 1024]  # where it was tuned (bench/gallery_scale.py)
    sizes = [1, 10_000, 50_000, 300_000, 3_000_000, 10**9]
    got = [auto.ef_for(n) for n in sizes]
    assert got == sorted(got) and got[0] == 64 and got[-1] == 4096
    assert IndexOptions(ef_search=77).ef_for(10**6) == 77
