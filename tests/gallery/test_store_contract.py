"""The GalleryStore contract (facenet.gallery.store), run against every backend in
tests/gallery/conftest.py's BACKENDS through the ``store_factory`` fixture."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facenet.errors import UsageError
from facenet.gallery.store import (
    ModelMismatchError,
    NewFace,
    SubjectExistsError,
    SubjectNotFoundError,
)


def _close(store_factory, a, b) -> bool:
    return np.allclose(a, b, atol=store_factory.tolerance, rtol=0) if not store_factory.exact else np.array_equal(a, b)


def test_empty_store(store_factory, identity):
    s = store_factory()
    assert s.identity == identity
    assert isinstance(s.location, str) and s.location
    assert isinstance(s.generation(), int)
    assert s.subjects() == [] and s.faces() == []
    ids, emb, names = s.all_embeddings()
    assert ids.shape == (0,) and ids.dtype == np.int64
    assert emb.shape == (0, identity.embedding_size) and emb.dtype == np.float32
    assert names == []


def test_add_faces_records_everything(store_factory, make_faces, identity):
    s = store_factory()
    faces = make_faces(3)
    ids = s.add_faces("Ann", faces)
    assert len(ids) == 3 and len(set(ids)) == 3 and ids == sorted(ids)
    records = s.faces("Ann")
    assert [r.face_id for r in records] == ids
    for r, f in zip(records, faces):
        assert r.subject == "Ann" and r.photo_sha256 == f.photo_sha256 and r.source == f.source
        assert r.embedding.dtype == np.float32 and r.embedding.shape == (identity.embedding_size,)
        assert _close(store_factory, r.embedding, f.embedding)
        assert abs(np.linalg.norm(r.embedding) - 1) < 1e-5
        np.testing.assert_array_equal(r.box, np.asarray(f.box, dtype=np.float64))
        assert isinstance(r.created, float) and r.created > 1.6e9
    ids_all, emb, names = s.all_embeddings()
    assert ids_all.tolist() == ids and names == ["Ann"] * 3
    assert _close(store_factory, emb, np.stack([f.embedding for f in faces]))


def test_unknown_box_and_bare_embedding(store_factory, unit_vectors):
    s = store_factory()
    e = unit_vectors(2)
    s.add_faces("Ann", [NewFace(e[0]), NewFace(e[1])])  # no photo, no box: never duplicates of each other
    records = s.faces("Ann")
    assert len(records) == 2
    assert all(np.isnan(r.box).all() and r.photo_sha256 == "" and r.source == "" for r in records)


def test_same_photo_is_a_no_op(store_factory, make_faces):
    s = store_factory()
    faces = make_faces(3)
    s.add_faces("Ann", faces)
    g = s.generation()
    assert s.add_faces("Ann", faces[:2]) == []
    assert s.generation() == g, "a write that changes nothing leaves the generation alone"
    upper = dataclasses.replace(faces[0], photo_sha256=faces[0].photo_sha256.upper())
    assert s.add_faces("Ann", [upper]) == [], "SHA-256 digests compare case-insensitively"
    # one new photo among old ones: only it is added; the same photo within one batch once
    new = make_faces(1, seed=7)
    assert len(s.add_faces("Ann", faces + new + new)) == 1
    assert [x.n_faces for x in s.subjects()] == [4]
    # the same photo for another subject (two people in one photo) is fine
    assert len(s.add_faces("Bob", faces[:1])) == 1


def test_subjects_sorted_with_counts(store_factory, make_faces):
    s = store_factory()
    s.add_faces("Zoe", make_faces(1, seed=1))
    s.add_faces("Ann", make_faces(3, seed=2))
    s.add_faces("Empty", [])
    got = [(x.name, x.n_faces) for x in s.subjects()]
    assert got == [("Ann", 3), ("Empty", 0), ("Zoe", 1)]
    assert all(isinstance(x.created, float) for x in s.subjects())
    assert [r.subject for r in s.faces()] == ["Zoe", "Ann", "Ann", "Ann"]  # by face id
    assert s.faces("Empty") == []
    assert s.counts() == (3, 4) and store_factory().counts() == (0, 0)
    s.remove_subject("Zoe")
    assert s.counts() == (2, 3)


def test_names_are_stripped_and_checked(store_factory, make_faces):
    s = store_factory()
    s.add_faces("  Ann Lee ", make_faces(1))
    assert [x.name for x in s.subjects()] == ["Ann Lee"]
    assert len(s.faces(" Ann Lee")) == 1
    for bad in ("", "   ", "a" * 201, "two\nlines", "tab\there", None, 3):
        with pytest.raises(ValueError, match="'subject' parameter"):
            s.add_faces(bad, make_faces(1, seed=9))
    s.add_faces("b" * 200, make_faces(1, seed=8))
    assert len(s.subjects()) == 2


def test_bad_embeddings_refused_whole(store_factory, make_faces, unit_vectors, identity):
    s = store_factory()
    good = make_faces(3)
    g = s.generation()
    cases = [
        (NewFace(unit_vectors(1, dim=identity.embedding_size * 2)[0]), "shape"),
        (NewFace(unit_vectors(1)[0] * 2), "norm"),
        (NewFace(np.full(identity.embedding_size, np.nan, np.float32)), "NaN"),
        (NewFace(unit_vectors(1)[0], photo_sha256="not-a-digest"), "photo_sha256"),
        (NewFace(unit_vectors(1)[0], box=(1.0, 2.0)), "box"),
    ]
    for bad, words in cases:
        with pytest.raises(ValueError, match=words):
            s.add_faces("Ann", good[:1] + [bad] + good[1:])
    assert s.subjects() == [] and s.generation() == g, "a refused batch writes nothing, not even the subject"


def test_create_false_needs_the_subject(store_factory, make_faces):
    s = store_factory()
    s.add_faces("Alice", make_faces(1))
    g = s.generation()
    with pytest.raises(SubjectNotFoundError, match="Did you mean 'Alice'"):
        s.add_faces("Alise", make_faces(1, seed=1), create=False)
    assert s.generation() == g and [x.name for x in s.subjects()] == ["Alice"]
    assert len(s.add_faces("Alice", make_faces(1, seed=1), create=False)) == 1


def test_unknown_subject_everywhere(store_factory, make_faces):
    s = store_factory()
    s.add_faces("Alice", make_faces(1))
    s.add_faces("Bob", make_faces(1, seed=1))
    calls = [lambda: s.faces("alice "), lambda: s.rename("Alicia", "X"), lambda: s.merge("Alicia", "Bob"),
             lambda: s.merge("Bob", "Alicia"), lambda: s.remove_subject("Alicia")]
    for call in calls:
        with pytest.raises(SubjectNotFoundError) as info:
            call()
        assert "'Alice'" in str(info.value) and "Did you mean" in str(info.value)
        assert isinstance(info.value, UsageError) and isinstance(info.value, KeyError)
    with pytest.raises(SubjectNotFoundError) as info:
        s.remove_subject("Zzyzx")
    assert "Did you mean" not in str(info.value) and "'Zzyzx'" in str(info.value)


def test_rename(store_factory, make_faces):
    s = store_factory()
    ids = s.add_faces("Ann", make_faces(2))
    s.add_faces("Bob", make_faces(1, seed=1))
    s.rename("Ann", "Anna")
    assert [x.name for x in s.subjects()] == ["Anna", "Bob"]
    assert [r.face_id for r in s.faces("Anna")] == ids
    with pytest.raises(SubjectExistsError, match="Bob"):
        s.rename("Anna", "Bob")
    g = s.generation()
    s.rename("Anna", " Anna ")  # the same name: nothing happens
    assert s.generation() == g
    assert s.all_embeddings()[2] == ["Anna", "Anna", "Bob"]


def test_merge(store_factory, make_faces):
    s = store_factory()
    a = make_faces(3)
    s.add_faces("Ann", a)
    s.add_faces("Ann B", a[:1] + make_faces(2, seed=1))  # one photo both hold
    assert s.merge("Ann B", "Ann") == 2
    assert [(x.name, x.n_faces) for x in s.subjects()] == [("Ann", 5)]
    with pytest.raises(ValueError, match="itself"):
        s.merge("Ann", "Ann")


def test_remove_subject_and_faces(store_factory, make_faces):
    s = store_factory()
    ids = s.add_faces("Ann", make_faces(3))
    s.add_faces("Bob", make_faces(2, seed=1))
    assert s.remove_faces([ids[0], 10**9]) == 1
    g = s.generation()
    assert s.remove_faces([10**9]) == 0 and s.generation() == g
    assert s.remove_faces([]) == 0
    assert [x.n_faces for x in s.subjects()] == [2, 2]
    assert s.remove_subject("Ann") == 2
    assert [x.name for x in s.subjects()] == ["Bob"]
    assert set(s.all_embeddings()[2]) == {"Bob"}
    assert len(s.add_faces("Ann", make_faces(1))) == 1, "a removed photo can be enrolled again"


def test_generation_counts_each_change_once(store_factory, make_faces):
    s = store_factory()
    steps = [
        lambda: s.add_faces("Ann", make_faces(2)),
        lambda: s.add_faces("Bob", []),
        lambda: s.add_faces("Bob", make_faces(1, seed=1)),
        lambda: s.rename("Bob", "Rob"),
        lambda: s.merge("Rob", "Ann"),
        lambda: s.remove_faces([s.faces("Ann")[0].face_id]),
        lambda: s.remove_subject("Ann"),
    ]
    g = s.generation()
    for step in steps:
        step()
        assert s.generation() == g + 1
        g += 1
    s.set_meta("threshold", "1.2")
    assert s.generation() == g, "metadata is not what an index is built from"


def test_meta(store_factory):
    s = store_factory()
    assert s.get_meta("threshold") is None
    s.set_meta("threshold", "1.25")
    s.set_meta("threshold", "1.5")
    s.set_meta("note", "ünïcode ✓")
    assert s.get_meta("threshold") == "1.5" and s.get_meta("note") == "ünïcode ✓"


def test_reopen_sees_everything(store_factory, make_faces, identity):
    s = store_factory()
    s.add_faces("Ann", make_faces(2))
    s.set_meta("threshold", "1.5")
    t = store_factory.reopen(s)
    assert t.identity == identity and t.generation() == s.generation()
    assert [(x.name, x.n_faces) for x in t.subjects()] == [("Ann", 2)]
    assert t.get_meta("threshold") == "1.5"
    np.testing.assert_array_equal(t.all_embeddings()[1], s.all_embeddings()[1])
    # two connections see each other's commits
    t.add_faces("Bob", make_faces(1, seed=3))
    assert [x.name for x in s.subjects()] == ["Ann", "Bob"]
    assert store_factory.reopen(s, identity).identity == identity


def test_other_model_refused(store_factory, identity):
    s = store_factory()
    other = dataclasses.replace(identity, model="arcface", flip=True)
    with pytest.raises(ModelMismatchError) as info:
        store_factory.reopen(s, other)
    msg = str(info.value)
    assert identity.describe() in msg and other.describe() in msg


def test_bulk_add_is_one_change(store_factory, make_faces):
    s = store_factory()
    s.add_faces("Ann", make_faces(2))
    g = s.generation()
    items = [("Ann", make_faces(3)), (" Bob ", make_faces(2, seed=1)), ("Cy", make_faces(1, seed=2))]
    assert s.bulk_add(items) == 1 + 2 + 1, "Ann's two known photos are skipped"
    assert s.generation() == g + 1
    assert [(x.name, x.n_faces) for x in s.subjects()] == [("Ann", 3), ("Bob", 2), ("Cy", 1)]
    assert s.bulk_add(items) == 0 and s.generation() == g + 1
    with pytest.raises(ValueError, match="'subject' parameter"):
        s.bulk_add([("Dee", make_faces(1, seed=3)), ("", make_faces(1, seed=4))])
    assert len(s.subjects()) == 3, "a refused batch writes nothing"


def test_sample_embeddings_is_a_seeded_subset(store_factory, make_faces):
    s = store_factory()
    ids = s.add_faces("Ann", make_faces(30))
    s.remove_faces(ids[5:10])  # gaps in the ids
    all_ids, all_emb, _ = s.all_embeddings()
    got, emb, names = s.sample_embeddings(100)
    assert got.tolist() == all_ids.tolist()  # no more faces than asked for: all of them
    sub, sub_emb, sub_names = s.sample_embeddings(8, seed=1)
    assert 1 <= len(sub) <= 8 and set(sub.tolist()) <= set(all_ids.tolist()) and sub_names == ["Ann"] * len(sub)
    assert sub_emb.shape == (len(sub), all_emb.shape[1]) and sub_emb.dtype == np.float32
    assert s.sample_embeddings(8, seed=1)[0].tolist() == sub.tolist()  # the same gallery and seed: the same faces
    pos = {int(i): k for k, i in enumerate(all_ids)}
    assert _close(store_factory, sub_emb, all_emb[[pos[int(i)] for i in sub]])


# ---------------------------------------------------------------- per-face model identity (schema v2)

def _other(identity):
    """Another model of the same embedding size (the store records it; the gallery judges it)."""
    return dataclasses.replace(identity, model="fused", weights_sha256="cd" * 32)


def test_faces_carry_their_model(store_factory, make_faces, identity):
    s = store_factory()
    new = _other(identity)
    s.add_faces("Ann", make_faces(2))
    ids = s.add_faces("Ann", [dataclasses.replace(f, model=new) for f in make_faces(2, seed=1)])
    s.bulk_add([("Bob", [dataclasses.replace(f, model=new) for f in make_faces(1, seed=2)]), ("Cy", make_faces(1, seed=3))])
    assert [f.model for f in s.faces("Ann")] == [identity, identity, new, new]
    assert s.model_counts() == {identity: 3, new: 3}
    info = s.face_info([*ids, 10**9])
    assert info == {ids[0]: ("Ann", new), ids[1]: ("Ann", new)}, "unknown ids are left out"
    only_new = s.all_embeddings(model=new)
    assert sorted(only_new[2]) == ["Ann", "Ann", "Bob"] and only_new[1].shape == (3, identity.embedding_size)
    assert s.all_embeddings(model=dataclasses.replace(new, flip=True))[0].size == 0, "a model with no faces: none"
    assert sorted(s.sample_embeddings(100, model=identity)[2]) == ["Ann", "Ann", "Cy"]
    assert len(s.sample_embeddings(2, model=new)[0]) <= 2
    assert store_factory.reopen(s).model_counts() == {identity: 3, new: 3}
    with pytest.raises(ValueError, match="embeddings"):
        s.add_faces("Ann", [dataclasses.replace(make_faces(1, seed=4)[0], model=dataclasses.replace(new, embedding_size=8))])


def test_replace_embeddings_is_one_change(store_factory, make_faces, unit_vectors, identity):
    s = store_factory()
    new = _other(identity)
    ann = s.add_faces("Ann", make_faces(3))
    bob = s.add_faces("Bob", make_faces(1, seed=1))
    before = {f.face_id: f for f in s.faces()}
    g = s.generation()
    v = unit_vectors(3, seed=9)
    assert s.replace_embeddings("Ann", [(ann[0], v[0]), (ann[1], v[1]), (bob[0], v[2])], new) == 2, "Bob's face is not Ann's"
    assert s.generation() == g + 1
    after = {f.face_id: f for f in s.faces()}
    assert after[ann[0]].model == new and after[ann[2]].model == identity and after[bob[0]].model == identity
    assert _close(store_factory, after[ann[0]].embedding, v[0]) and _close(store_factory, after[bob[0]].embedding,
                                                                           before[bob[0]].embedding)
    assert after[ann[0]].photo_sha256 == before[ann[0]].photo_sha256 and after[ann[0]].source == before[ann[0]].source
    np.testing.assert_array_equal(after[ann[0]].box, before[ann[0]].box)
    assert s.replace_embeddings("Ann", [], new) == 0 and s.generation() == g + 1
    with pytest.raises(ValueError, match="unit length"):
        s.replace_embeddings("Ann", [(ann[2], v[0] * 2)], new)
    with pytest.raises(SubjectNotFoundError):
        s.replace_embeddings("Nobody", [(ann[2], v[0])], new)
    assert s.model_counts() == {identity: 2, new: 2}


def test_set_identity_at_the_end_of_an_upgrade(store_factory, make_faces, unit_vectors, identity):
    from facenet.gallery.store import GalleryError

    s = store_factory()
    new = _other(identity)
    ids = s.add_faces("Ann", make_faces(2))
    with pytest.raises(GalleryError, match="2 face"):
        s.set_identity(new)
    assert s.identity == identity
    s.replace_embeddings("Ann", list(zip(ids, unit_vectors(2, seed=5))), new)
    g = s.generation()
    s.set_identity(new)
    assert s.identity == new and s.generation() == g + 1
    s.set_identity(new)
    assert s.generation() == g + 1, "the same identity again changes nothing"
    t = store_factory.reopen(s)
    assert t.identity == new and t.model_counts() == {new: 2}
    with pytest.raises(ModelMismatchError):
        store_factory.reopen(s, identity)
    assert store_factory.reopen(s, new).add_faces("Bob", make_faces(1, seed=3))
    assert t.faces("Bob")[0].model == new, "a face without a model is the gallery's (new) model's"
