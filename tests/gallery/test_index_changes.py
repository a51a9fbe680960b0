"""The FAISS index follows removals, renames, merges and other processes' writes without a rebuild,
and keeps an index file made with other settings until `reindex`. Small galleries with the HNSW
threshold set low (IndexOptions), each result compared with exact search over the database, and
every build counted."""

from __future__ import annotations

import json

import numpy as np
import pytest

import facenet.gallery.index as index_module
from facenet.gallery.backends import FaissSearch
from facenet.gallery.gallery import Gallery
from facenet.gallery.index import FaceIndex, IndexOptions, index_path_for
from facenet.gallery.index_sync import plan
from facenet.gallery.sqlite_store import SQLiteStore
from facenet.gallery.store import ModelIdentity, NewFace

D = 32
IDENT = ModelIdentity("sface", "ab" * 32, D, False)
#: HNSW from 100 faces; a beam wider than the gallery, so the graph's answers are exact search's.
OPTS = IndexOptions(exact_threshold=100, m=16, ef_construction=64, ef_search=512)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def builds(monkeypatch):
    """Every FAISS build of a gallery's index from here on (open without a usable file, a
    rebuild, a reindex), by face count."""
    made: list[int] = []
    real = index_module.build_state

    def counting(ids, *args, **kwargs):
        made.append(len(ids))
        return real(ids, *args, **kwargs)

    monkeypatch.setattr(index_module, "build_state", counting)
    return made


def brute_force(store, q: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
    """Per query the k nearest subjects (squared L2 to their nearest face) over every face in the database."""
    ids, emb, names = store.all_embeddings()
    d = ((q[:, None, :] - emb[None]) ** 2).sum(-1)
    out = []
    for row in d:
        best: dict[str, float] = {}
        for name, v in zip(names, row):
            best[name] = min(best.get(name, 9.0), float(v))
        out.append(sorted(best.items(), key=lambda kv: kv[1])[:k])
    return out


def make_gallery(path, n_people=60, per=4, seed=0, options=OPTS):
    """n_people x per faces (person centres plus spread), the index built and saved."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(n_people, D)))
    store = SQLiteStore.create(path, IDENT)
    for i in range(n_people):
        faces = unit(centres[i] + 0.3 * rng.normal(size=(per, D)) / np.sqrt(D))
        store.add_faces(f"p{i}", [NewFace(e) for e in faces])
    FaceIndex.open(store, index_path_for(path), options)
    store.close()
    return centres


def open_gallery(path, options=OPTS) -> Gallery:
    store = SQLiteStore.open(path, IDENT)
    return Gallery(store, search=FaissSearch(store, index_path_for(path), options))


def assert_exact(g: Gallery, queries: np.ndarray, k: int = 3) -> None:
    """The gallery's index answers exactly what brute force over the database does."""
    got = g._search(queries, k)
    want = brute_force(g.store, queries, k)
    assert [[n for n, _ in row] for row in got] == [[n for n, _ in row] for row in want]
    np.testing.assert_allclose([[d for _, d in row] for row in got], [[d for _, d in row] for row in want], atol=1e-5)


def queries(centres: np.ndarray, seed: int = 9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return unit(np.vstack([centres, rng.normal(size=(20, D))]))


def test_removal_is_masked_persisted_and_not_rebuilt(tmp_path, builds):
    path = tmp_path / "g.gallery"
    centres = make_gallery(path)
    builds.clear()
    g = open_gallery(path)
    assert g._index().kind == "hnsw_sq8" and g._index().source == "file"
    assert g.remove("p3") == 4 and g.remove_faces([g.faces("p5")[0].face_id, 10**9]) == 1
    index = g._index()
    assert index.describe()["removed"] == 5 and len(index) == 235
    hits = g.identify_embeddings(centres[3:4], k=3)[0]
    assert "p3" not in [c.name for c in hits.candidates]
    assert_exact(g, queries(centres))
    g.close()
    assert builds == [], "a removal masks the faces: no rebuild"
    again = open_gallery(path)  # the mask was saved with the index file
    assert again._index().source == "file" and again._index().describe()["removed"] == 5
    assert again._index().followed is None and builds == []
    assert_exact(again, queries(centres))
    again.close()


def test_removed_faces_past_the_share_rebuild_once(tmp_path, builds):
    path = tmp_path / "g.gallery"
    centres = make_gallery(path)
    builds.clear()
    with open_gallery(path) as g:
        for i in range(6):  # 24 of 240 faces: 10%, still masked
            g.remove(f"p{i}")
        assert builds == [] and g._index().describe()["removed"] == 24
        g.remove("p6")  # 28 / 240 > 10%: rebuilt without them
        assert builds == [212] and g._index().describe()["removed"] == 0
        assert "passed 10%" in g._index().rebuild_reason
        assert_exact(g, queries(centres))


def test_rename_and_merge_relabel_without_a_rebuild(tmp_path, builds):
    path = tmp_path / "g.gallery"
    centres = make_gallery(path)
    builds.clear()
    with open_gallery(path) as g:
        g.rename("p1", "Ada")
        assert g.identify_embeddings(centres[1:2], k=1)[0].name == "Ada"
        same = unit(np.random.default_rng(4).normal(size=(1, D)))
        g.add_embeddings("p2", same, IDENT, photo_sha256s=["0" * 64])  # one photo both have
        g.add_embeddings("p7", same, IDENT, photo_sha256s=["0" * 64])
        before = len(g._index())
        assert g.merge("p7", "p2") == 4  # the photo p2 had already: dropped, masked
        assert len(g._index()) == before - 1
        assert g.identify_embeddings(centres[7:8], k=1)[0].name == "p2"
        assert_exact(g, queries(centres))
    assert builds == [], "names are labels of face ids: a rename or merge rewrites labels only"
    with open_gallery(path) as again:
        assert again._index().source == "file" and again._index().followed is None
        assert_exact(again, queries(centres))
    assert builds == []


def test_another_process_appends_removes_and_renames(tmp_path, builds):
    path = tmp_path / "g.gallery"
    centres = make_gallery(path)
    rng = np.random.default_rng(5)
    other = SQLiteStore.open(path, IDENT)
    new = unit(rng.normal(size=(3, D)))
    other.add_faces("newcomer", [NewFace(e) for e in new])
    other.remove_subject("p4")
    other.rename("p8", "Bea")
    builds.clear()
    with open_gallery(path) as g:  # the file is older than the gallery: caught up on open, not rebuilt
        index = g._index()
        assert index.source == "file" and builds == []
        assert "3 face(s) added, 4 removed, 4 relabelled" in index.followed
        assert g.identify_embeddings(new[:1], k=1)[0].name == "newcomer"
        assert_exact(g, unit(np.vstack([queries(centres), new])))
        other.add_faces("late", [NewFace(unit(rng.normal(size=(1, D)))[0])])  # while it is open
        assert_exact(g, queries(centres))
        assert builds == [] and "1 face(s) added" in g._index().followed
    with open_gallery(path) as again:
        assert again._index().followed is None and builds == [], "the caught-up index was saved"
    other.close()


def test_a_change_that_appends_cannot_explain_still_rebuilds(tmp_path, builds):
    path = tmp_path / "g.gallery"
    centres = make_gallery(path)
    other = SQLiteStore.open(path, IDENT)
    face = other.faces("p0")[0]
    other.replace_embeddings("p0", [(face.face_id, unit(np.ones((1, D)))[0])], IDENT)  # re-embedded
    builds.clear()
    with open_gallery(path) as g:
        assert builds == [240] and "another embedding" in g._index().rebuild_reason
        assert_exact(g, queries(centres))
    other.close()


def test_plan_refuses_ids_that_were_not_appended():
    x = unit(np.random.default_rng(1).normal(size=(6, D)))
    index = FaceIndex.from_arrays([1, 2, 4, 5], x[:4], ["a", "a", "b", "b"])
    st = index._state
    ok, what = plan(st, np.array([1, 2, 4, 5, 9]), x[[0, 1, 2, 3, 4]], ["a", "a", "c", "b", "d"])
    assert ok is not None and what == "1 face(s) added, 0 removed, 1 relabelled"
    assert plan(st, np.array([1, 2, 3, 4, 5]), x[[0, 1, 5, 2, 3]], ["a"] * 5)[0] is None  # 3: not beyond 5
    moved = x[:4].copy()
    moved[2] = x[5]
    assert "another embedding" in plan(st, np.array([1, 2, 4, 5]), moved, ["a"] * 4)[1]


def test_an_index_of_other_settings_is_used_until_reindex(tmp_path, builds):
    path = tmp_path / "g.gallery"
    old = IndexOptions(exact_threshold=100, m=12, ef_construction=40, ef_search=512, hnsw_codes="float32")
    centres = make_gallery(path, options=old)
    builds.clear()
    g = open_gallery(path)
    info = g.stats()["index"]
    assert builds == [] and info["source"] == "file" and info["kind"] == "hnsw"
    assert (info["m"], info["ef_construction"], info["current"]) == (12, 40, False)
    assert info["current_settings"] == {"kind": "hnsw_sq8", "m": 16, "ef_construction": 64} and "reindex" in info["hint"]
    assert_exact(g, queries(centres))
    seen: list[tuple[int, int]] = []
    done = g.reindex(progress=lambda n, total: seen.append((n, total)))
    assert done["current"] and done["kind"] == "hnsw_sq8" and builds == [240] and seen[-1] == (240, 240)
    assert_exact(g, queries(centres))
    g.close()
    with open_gallery(path) as again:
        assert again.stats()["index"]["current"] and again._index().source == "file" and builds == [240]


def test_a_format_2_file_is_read_as_it_is(tmp_path, builds):
    path = tmp_path / "g.gallery"
    centres = make_gallery(path)
    side = index_path_for(path).with_name(index_path_for(path).name + ".json")
    meta = json.loads(side.read_text())
    meta.pop("removed")
    side.write_text(json.dumps({**meta, "format": 2}))
    builds.clear()
    with open_gallery(path) as g:
        assert g._index().file_format == 2 and g._index().source == "file" and builds == []
        assert_exact(g, queries(centres))


def test_an_index_newer_than_the_gallery_is_rebuilt(tmp_path, builds):
    path = tmp_path / "g.gallery"
    make_gallery(path)
    side = index_path_for(path).with_name(index_path_for(path).name + ".json")
    side.write_text(json.dumps({**json.loads(side.read_text()), "generation": 10**6}))
    builds.clear()
    with open_gallery(path) as g:
        assert builds == [240] and "newer than the gallery" in g._index().rebuild_reason


def test_random_changes_stay_exact(tmp_path, builds):
    """Enrolments, removals, renames and merges in random order (names reused after they were
    renamed away or merged): after every few, the index answers what brute force does."""
    path = tmp_path / "g.gallery"
    centres = make_gallery(path, n_people=40)
    rng = np.random.default_rng(11)
    builds.clear()
    with open_gallery(path, IndexOptions(exact_threshold=100, m=16, ef_construction=64, ef_search=512,
                                         max_removed_share=0.5)) as g:
        for step in range(60):
            names = [s.name for s in g.subjects() if s.n_faces]
            op = rng.choice(["add", "add", "remove", "remove_face", "rename", "merge"])
            a, b = rng.choice(names, 2, replace=False)
            if op == "add":
                who = a if rng.random() < 0.5 else f"n{step}"
                g.add_embeddings(who, unit(rng.normal(size=(2, D))), IDENT)
            elif op == "remove":
                g.remove(a)
            elif op == "remove_face":
                g.remove_faces([g.faces(a)[0].face_id])
            elif op == "rename":  # to a name that is gone (removed, merged or renamed away) when there is one
                taken = {s.name for s in g.subjects()}
                free = [f"p{i}" for i in range(40) if f"p{i}" not in taken]
                g.rename(a, str(rng.choice(free)) if free else f"r{step}")
            else:
                g.merge(a, b)
            if step % 10 == 9:
                assert_exact(g, queries(centres), k=4)
        assert builds == [], "every change was followed"
    with open_gallery(path) as again:
        assert again._index().source == "file" and again._index().followed is None
        assert_exact(again, queries(centres), k=4)


def test_an_8bit_gallery_is_caught_up_too(tmp_path, builds):
    """hnsw8 (the graph over the gallery's own 8-bit codes): another process's writes are caught
    up by comparing the indexed codes with the stored ones, and removals are masked."""
    path = tmp_path / "g8.gallery"
    rng = np.random.default_rng(2)
    x = unit(rng.normal(size=(150, D)))
    store = SQLiteStore.create(path, IDENT, quantize="int8")
    store.bulk_add((f"p{i // 2}", [NewFace(e)]) for i, e in enumerate(x))
    FaceIndex.open(store, index_path_for(path), OPTS)
    store.remove_subject("p3")
    store.add_faces("new", [NewFace(e) for e in unit(rng.normal(size=(2, D)))])
    store.rename("p4", "Cy")
    builds.clear()
    with Gallery(store, search=FaissSearch(store, index_path_for(path), OPTS)) as g:
        assert g._index().kind == "hnsw8" and builds == []
        assert "2 face(s) added, 2 removed, 2 relabelled" in g._index().followed
        g.remove("p5")
        assert_exact(g, unit(np.vstack([x[:20], rng.normal(size=(10, D))])))
        assert builds == []
