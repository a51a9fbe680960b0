"""PostgresStore search on a real server (the embedded PostgreSQL 18 + pgvector; see
test_postgres_store.py): faces and subjects against brute force, the HNSW index in the plan,
the empty gallery.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from facenet.gallery.pg_schema import Vec
from facenet.gallery.pg_search import SEARCH_SQL
from facenet.gallery.postgres_store import PostgresStore
from facenet.gallery.store import NewFace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pg_common  # noqa: E402
from pg_common import D, unit  # noqa: E402

store, gallery_name, pg_url, pg_server_url = pg_common.store, pg_common.gallery_name, pg_common.pg_url, pg_common.pg_server_url  # fixtures

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
