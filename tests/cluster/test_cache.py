"""The embedding cache: faces (and photos without one) per photo SHA-256 and cache key."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from facenet.cluster.cache import EmbeddingCache, PhotoFaces, cache_key
from facenet.errors import DataError
from facenet.gallery.store import ModelIdentity

IDENT = ModelIdentity("sface", "ab" * 32, 4, False)
SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64


def faces(k: int, seed: int = 0) -> PhotoFaces:
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(k, 4)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    return PhotoFaces(640, 480, rng.uniform(0, 400, (k, 4)).astype(np.float32), rng.random(k).astype(np.float32),
                      rng.uniform(0, 400, (k, 5, 2)).astype(np.float32), e)


def same(a: PhotoFaces, b: PhotoFaces) -> bool:
    return (a.width, a.height) == (b.width, b.height) and all(
        np.array_equal(getattr(a, n).reshape(len(a), -1), getattr(b, n).reshape(len(b), -1))
        for n in ("boxes", "scores", "landmarks", "embeddings"))


def test_round_trip_and_persistence(tmp_path):
    path = tmp_path / "sub" / "cache.sqlite"
    key = cache_key(IDENT, "yunet")
    a, b = faces(3, 1), faces(1, 2)
    with EmbeddingCache(path, key) as c:
        c.put_many([(SHA_A, a), (SHA_B, b), (SHA_C, PhotoFaces.empty(10, 20, 4))])
        assert len(c) == 3 and SHA_A in c and "d" * 64 not in c
    with EmbeddingCache(path, key) as c:  # reopened
        got = c.get_many([SHA_A, SHA_B, SHA_C, "d" * 64])
        assert set(got) == {SHA_A, SHA_B, SHA_C}
        assert same(got[SHA_A], a) and same(got[SHA_B], b)
        assert len(got[SHA_C]) == 0 and (got[SHA_C].width, got[SHA_C].height) == (10, 20)  # no face: cached too
        c.put(SHA_A, b)  # replaced, not appended
        assert same(c.get(SHA_A), b)


def test_other_model_or_detector_sees_nothing(tmp_path):
    path = tmp_path / "cache.sqlite"
    with EmbeddingCache(path, cache_key(IDENT, "yunet")) as c:
        c.put(SHA_A, faces(2))
    flipped = ModelIdentity("sface", "ab" * 32, 4, True)
    for key in (cache_key(flipped, "yunet"), cache_key(IDENT, "mtcnn")):
        with EmbeddingCache(path, key) as c:
            assert c.get(SHA_A) is None and len(c) == 0
    assert cache_key(IDENT, "yunet") == cache_key(ModelIdentity("sface", "ab" * 32, 4, False), "yunet")


def test_a_damaged_entry_is_treated_as_missing(tmp_path):
    path = tmp_path / "cache.sqlite"
    key = cache_key(IDENT, "yunet")
    with EmbeddingCache(path, key) as c:
        c.put(SHA_A, faces(3))
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM faces WHERE face_index = 1")
    conn.commit()
    conn.close()
    with EmbeddingCache(path, key) as c:
        assert c.get(SHA_A) is None


def test_not_a_cache(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("hello")
    with pytest.raises(DataError, match="not an embedding cache"):
        EmbeddingCache(text, "k")
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(DataError, match="not a facenet embedding cache"):
        EmbeddingCache(other, "k")
    assert text.read_text() == "hello"


def test_known_files_by_path_size_and_mtime(tmp_path):
    with EmbeddingCache(tmp_path / "c.sqlite", cache_key(IDENT, "yunet")) as c:
        c.put_many([], files=[("/p/a.jpg", 10, 111, SHA_A), ("/p/b.jpg", 20, 222, SHA_B)])
        got = c.known_files({"/p/a.jpg": (10, 111), "/p/b.jpg": (20, 999), "/p/c.jpg": (1, 1)})
        assert got == {"/p/a.jpg": SHA_A}  # b was touched since (another mtime); c never seen
        assert c.known_sha256("/p/b.jpg", 20, 222) == SHA_B
        many = {f"/q/{i}.jpg": (i, i) for i in range(1200)}  # more than one query's worth
        c.put_many([], files=[(p, n, m, SHA_C) for p, (n, m) in many.items()])
        assert c.known_files(many) == dict.fromkeys(many, SHA_C)
