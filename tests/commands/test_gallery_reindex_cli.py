"""`facenet gallery G stats` reports the search index (kind, settings, whether they are the current
ones, the hint to reindex); `facenet gallery G reindex` rebuilds it; rename / remove from the
command line do not rebuild it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import facenet.gallery.index as index_module
from facenet.cli import main
from facenet.gallery.index import FaceIndex, IndexOptions, index_path_for
from facenet.gallery.sqlite_store import SQLiteStore
from facenet.gallery.store import ModelIdentity, NewFace

IDENT = ModelIdentity("sface", "ab" * 32, 128, False)


@pytest.fixture
def builds(monkeypatch):
    made: list[int] = []
    real = index_module.build_state
    monkeypatch.setattr(index_module, "build_state", lambda ids, *a, **kw: made.append(len(ids)) or real(ids, *a, **kw))
    return made


@pytest.fixture
def old_gallery(tmp_path):
    """40 people of one face, with an index file of the previous kind (HNSWFlat) and other settings."""
    path = tmp_path / "g.gallery"
    x = np.random.default_rng(0).normal(size=(40, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    store = SQLiteStore.create(path, IDENT)
    store.bulk_add((f"p{i}", [NewFace(e)]) for i, e in enumerate(x))
    FaceIndex.open(store, index_path_for(path), IndexOptions(exact_threshold=10, hnsw_codes="float32", m=8,
                                                             ef_construction=20))
    store.close()
    return str(path)


def _stats(G: str, capsys) -> dict:
    capsys.readouterr()
    assert main(["gallery", G, "stats", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["index"]


def test_stats_reports_old_settings_and_reindex_rebuilds(old_gallery, builds, capsys):
    G = old_gallery
    info = _stats(G, capsys)
    assert (info["kind"], info["m"], info["ef_construction"], info["current"]) == ("hnsw", 8, 20, False)
    assert info["current_settings"] == {"kind": "exact"} and "reindex" in info["hint"] and builds == []
    assert main(["gallery", G, "stats"]) == 0
    text = capsys.readouterr().out
    assert "index              hnsw, M 8, efConstruction 20: 40 faces" in text
    assert f"not the current ones (exact); it still answers. Rebuild it with: facenet gallery {G} reindex" in text
    assert main(["gallery", G, "reindex", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)["index"]
    assert done["current"] and done["kind"] == "exact" and builds == [40]
    info = _stats(G, capsys)
    assert info["current"] and info["source"] == "file" and builds == [40], "reindex saved the new index"
    assert main(["gallery", G, "reindex"]) == 0
    assert "rebuilt" in capsys.readouterr().out


def test_rename_and_remove_from_the_cli_do_not_rebuild(old_gallery, builds, capsys):
    G = old_gallery
    assert main(["gallery", G, "rename", "p1", "Ada"]) == 0
    assert main(["gallery", G, "remove", "p2"]) == 0
    info = _stats(G, capsys)
    assert builds == [] and info["source"] == "file" and info["removed"] == 1 and info["faces"] == 39
    store = SQLiteStore.open(G)
    index = FaceIndex.open(store, index_path_for(G), save=False)
    assert index.subject_of([store.faces("Ada")[0].face_id]) == ["Ada"] and index.kind == "hnsw"
    store.close()
    assert builds == []


def test_reindex_of_a_postgres_gallery_is_a_usage_error(capsys, monkeypatch):
    from facenet.gallery.gallery import Gallery

    class NoIndex:
        def __call__(self, q, k):
            return []

    g = Gallery.__new__(Gallery)
    g._search = NoIndex()
    g.store = type("S", (), {"location": "postgresql://x/y"})()
    from facenet.errors import UsageError

    with pytest.raises(UsageError, match="no FAISS index"):
        g.reindex()
