"""The gallery's FAISS index follows the gallery's own enrolments in memory and is saved on
close, so neither the next search nor the next process rebuilds it from the database."""

from __future__ import annotations

import numpy as np

from facenet.gallery.backends import FaissSearch
from facenet.gallery.gallery import Gallery
from facenet.gallery.index import FaceIndex, IndexOptions, index_path_for
from facenet.gallery.sqlite_store import SQLiteStore
from facenet.gallery.store import ModelIdentity, NewFace

D = 128
SFACE = ModelIdentity("sface", "ab" * 32, D, False)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def open_gallery(path) -> Gallery:
    store = SQLiteStore.open_or_create(path, SFACE)
    return Gallery(store, search=FaissSearch(store, index_path_for(path)))


def test_enrolments_are_followed_in_memory_and_saved_on_close(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    path = tmp_path / "g.gallery"
    people = unit(rng.normal(size=(6, D)))
    with open_gallery(path) as g:
        for i in range(3):
            g.add_embeddings(f"p{i}", people[i:i + 1], SFACE)
    rebuilds = []
    real_build = FaceIndex.build.__func__

    def counting_build(cls, store, options=None):
        rebuilds.append(store.generation())
        return real_build(cls, store, options)

    monkeypatch.setattr(FaceIndex, "build", classmethod(counting_build))
    g = open_gallery(path)
    assert g._search.index.source == "file" and rebuilds == []
    for i in range(3, 6):  # followed: no rebuild, and every new person is found at once
        g.add_embeddings(f"p{i}", people[i:i + 1], SFACE)
        hit = g.identify_embeddings(people[i:i + 1], k=1)[0]
        assert hit.name == f"p{i}" and hit.distance < 1e-5
    assert rebuilds == [] and len(g._search.index) == 6
    g.close()
    again = open_gallery(path)  # the saved index is current: opened from the file, not rebuilt
    assert again._search.index.source == "file" and rebuilds == []
    assert [again.identify_embeddings(people[i:i + 1], k=1)[0].name for i in range(6)] == [f"p{i}" for i in range(6)]
    again.close()


def test_a_subject_without_faces_is_created_and_later_searches_stay_right(tmp_path):
    x = unit(np.random.default_rng(3).normal(size=(2, D)))
    with open_gallery(tmp_path / "g.gallery") as g:
        g.add_embeddings("a", x[:1], SFACE)
        assert g.add_faces("empty", []) == [] and g.add_embeddings("none", np.zeros((0, D), np.float32), SFACE) == []
        g.add_embeddings("b", x[1:2], SFACE)
        assert [g.identify_embeddings(x[i:i + 1], k=1)[0].name for i in range(2)] == ["a", "b"]
        assert "empty" in [s.name for s in g.store.subjects()]


def test_a_rename_by_another_process_is_caught_up_without_a_rebuild(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "g.gallery"
    x = unit(rng.normal(size=(3, D)))
    with open_gallery(path) as g:
        g.add_embeddings("a", x[:1], SFACE)
        g.add_embeddings("b", x[1:2], SFACE)
        other = SQLiteStore.open(path)  # another process renames a person: not this index's own write
        other.rename("a", "c")
        other.close()
        g.add_embeddings("d", x[2:3], SFACE)  # so this one is not followed alone: the index catches up
        assert [g.identify_embeddings(x[i:i + 1], k=1)[0].name for i in range(3)] == ["c", "b", "d"]
        index = g._search.index
        assert index.generation == g.store.generation() and index.builds == 0
        assert index.followed == "caught up with the gallery: 1 face(s) added, 0 removed, 1 relabelled"


def test_follow_on_an_hnsw_index_matches_a_fresh_build(tmp_path):
    rng = np.random.default_rng(2)
    x = unit(rng.normal(size=(300, D)))
    store = SQLiteStore.open_or_create(tmp_path / "h.gallery", SFACE)
    for i in range(200):
        store.add_faces(f"p{i}", [NewFace(embedding=x[i])])
    opts = IndexOptions(exact_threshold=100, m=16, ef_construction=64, ef_search=128)
    search = FaissSearch(store, tmp_path / "h.faiss", opts)
    assert search.index.kind == "hnsw_sq8"
    for i in range(200, 300):
        before = store.generation()
        ids = store.add_faces(f"p{i}", [NewFace(embedding=x[i])])
        assert search.follow(ids, x[i:i + 1], f"p{i}", before, store.generation())
    d, ids = search.faces(x, 1)
    fresh = FaceIndex.build(store, opts)
    d2, ids2 = fresh.search(x, 1)
    assert (ids[:, 0] == ids2[:, 0]).mean() > 0.99 and np.allclose(d[:, 0], d2[:, 0], atol=1e-4)
    search.flush()
    assert FaceIndex.open(store, search.path, opts).source == "file"
    store.close()
