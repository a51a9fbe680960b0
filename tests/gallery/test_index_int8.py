"""The 8-bit index of 8-bit galleries ("hnsw8"): the codes are the stored ones, distances are
exact for the decoded faces, recall on structured data, its files, incremental adds, size."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facenet.gallery.index import FaceIndex, IndexOptions, index_path_for, int8_codes
from facenet.gallery.quantize import decode, encode
from facenet.gallery.sqlite_store import SQLiteStore


def _decoded(x: np.ndarray) -> np.ndarray:
    """What an 8-bit gallery gives back for unit vectors x."""
    return decode(encode(x, "int8"), x.shape[1], "int8")


def _structured(n_ids: int, per_id: int, dim: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def around(lab: np.ndarray) -> np.ndarray:
        x = centres[lab] + 0.8 * rng.standard_normal((len(lab), dim)) / np.sqrt(dim)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    labels = np.repeat(np.arange(n_ids), per_id)
    return around(labels), labels, around(rng.integers(0, n_ids, 300))


@pytest.fixture
def store8(tmp_path, identity):
    s = SQLiteStore.create(tmp_path / "g8.db", identity, quantize="int8")
    yield s
    s.close()


def test_int8_codes_are_the_stored_codes(unit_vectors):
    x = unit_vectors(500, dim=128, seed=3)
    spiky = np.zeros((3, 128), np.float32)
    spiky[0, 0] = 1.0  # one component at the top of the range
    spiky[1, :2] = [0.995, 0.0999]
    spiky[2, :] = 1 / np.sqrt(128)
    x = np.vstack([x, spiky / np.linalg.norm(spiky, axis=1, keepdims=True)])
    stored = np.frombuffer(b"".join(encode(x, "int8")), np.int8).reshape(x.shape).astype(np.float32)
    for given in (_decoded(x), x):  # as the store gives them back, and the originals as they are enrolled
        codes, norms = int8_codes(given)
        np.testing.assert_array_equal(codes, stored)
        np.testing.assert_allclose(norms, np.linalg.norm(stored, axis=1), rtol=1e-6)


def test_kind_for_storage():
    opts = IndexOptions(exact_threshold=10)
    assert [opts.kind_for(9), opts.kind_for(10), opts.kind_for(10, "int8"), opts.kind_for(9, "int8")] == [
        "exact", "hnsw_sq8", "hnsw8", "exact"]
    old = IndexOptions(exact_threshold=10, hnsw_codes="float32")
    assert [old.kind_for(10), old.kind_for(10, "int8")] == ["hnsw", "hnsw"]


def test_hnsw8_distances_are_exact_for_the_decoded_faces():
    emb, labels, probes = _structured(40, 5, dim=16, seed=2)
    dec = _decoded(emb)
    index = FaceIndex.from_arrays(np.arange(len(dec)) + 7, dec, [str(v) for v in labels],
                                  options=IndexOptions(exact_threshold=10, ef_search=400), quantize="int8")
    assert index.kind == "hnsw8"
    dist, ids = index.search(probes, 6)
    want = ((probes[:, None, :] - dec[None]) ** 2).sum(-1)
    np.testing.assert_allclose(dist, np.take_along_axis(want, ids - 7, 1), atol=2e-5)
    np.testing.assert_allclose(dist, np.sort(want, 1)[:, :6], atol=2e-5)  # 200 faces, a wide beam: the true 6
    assert (np.diff(dist, axis=1) >= 0).all()


def test_hnsw8_recall_on_structured_data():
    emb, labels, probes = _structured(1500, 4)
    dec = _decoded(emb)
    names = [str(v) for v in labels]
    exact = FaceIndex.from_arrays(np.arange(len(dec)), dec, names)
    h8 = FaceIndex.from_arrays(np.arange(len(dec)), dec, names, options=IndexOptions(exact_threshold=1000),
                               quantize="int8")
    assert exact.kind == "exact" and h8.kind == "hnsw8"
    recall = float((h8.search(probes, 1)[1][:, 0] == exact.search(probes, 1)[1][:, 0]).mean())
    assert recall >= 0.99, recall


def test_hnsw8_holds_no_float_vectors():
    import faiss

    emb, labels, _ = _structured(500, 4, dim=128)
    dec, names = _decoded(emb), [str(v) for v in labels]
    size = {}
    for codes in ("sq8", "float32"):
        opts = IndexOptions(exact_threshold=100, m=16, hnsw_codes=codes)
        index = FaceIndex.from_arrays(np.arange(2000), dec, names, options=opts, quantize="int8")
        size[index.kind] = faiss.serialize_index(index._state.index).nbytes
    per_face_graph = size["hnsw"] / 2000 - 4 * 128
    assert size["hnsw8"] / 2000 < 128 + per_face_graph + 16, size  # 1 byte a value, where float32 takes 4


def test_hnsw8_file_round_trip_and_checks(store8, make_faces):
    path = index_path_for(store8.path)
    store8.add_faces("Ann", make_faces(20))
    store8.add_faces("Bob", make_faces(15, seed=1))
    opts = IndexOptions(exact_threshold=10)
    built = FaceIndex.open(store8, path, opts)
    assert built.kind == "hnsw8" and built.quantize == "int8" and built.describe()["quantize"] == "int8"
    again = FaceIndex.open(store8, path, opts)
    assert again.source == "file" and again.kind == "hnsw8"
    q = store8.all_embeddings()[1]
    for a, b in zip(again.search(q, 4), built.search(q, 4)):
        np.testing.assert_array_equal(a, b)
    side = path.with_name(path.name + ".json")
    side.write_text(json.dumps({**json.loads(side.read_text()), "quantize": "none"}))
    other = FaceIndex.open(store8, path, opts)
    assert other.source == "built" and "quantize" in other.rebuild_reason


def test_hnsw8_incremental_add_matches_a_rebuild(store8, make_faces):
    opts = IndexOptions(exact_threshold=5, ef_search=200)
    store8.add_faces("Ann", make_faces(10))
    index = FaceIndex.build(store8, opts)
    before = store8.generation()
    faces = make_faces(6, seed=1)
    ids = store8.add_faces("Bob", faces)
    originals = np.stack([f.embedding for f in faces])  # as enrolled, not as the store decodes them
    assert index.add(ids, originals, "Bob", before=before, after=store8.generation())
    fresh = FaceIndex.build(store8, opts)
    q = store8.all_embeddings()[1]
    for a, b in zip(index.search(q, 5), fresh.search(q, 5)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert index.kind == fresh.kind == "hnsw8"
