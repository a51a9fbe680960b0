"""Harmonic models in a gallery (facenet.gallery.harmonic): an SFace gallery opened with ``fused``,
identification across face kinds against brute force, refusals, the automatic threshold, export,
and the upgrade (with a stand-in pipeline: the real models are in test_harmonic_models.py)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from facenet.gallery.auto_threshold import AutoThreshold
from facenet.gallery.backends import search_for
from facenet.gallery.gallery import Gallery
from facenet.gallery.harmonic import (
    check_comparable,
    fit_mixed_threshold,
    mixed_threshold,
    pair_scale,
    pair_threshold,
)
from facenet.gallery.store import ModelIdentity, ModelMismatchError, NewFace
from facenet.models import model_config

D = 128


def ident(name: str, flip: bool = False) -> ModelIdentity:
    c = model_config(name)
    return ModelIdentity(name, c.weights.sha256, int(c.embedding_size), flip)


SFACE, FUSED = ident("sface"), ident("fused")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def people(n: int, seed: int = 0) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((n, D)))


def near(c: np.ndarray, spread: float, seed: int) -> np.ndarray:
    return unit(c + spread * np.random.default_rng(seed).standard_normal(c.shape) / np.sqrt(D))


def test_declared_pairs_only():
    t = model_config("fused").mixed_threshold("sface")
    assert t is not None and 1.0 < t < 1.6  # chosen on LFW View 1 (bench/own_embedding/mixed_threshold.py)
    assert mixed_threshold(FUSED, SFACE) == mixed_threshold(SFACE, FUSED) == t, "declared once, both ways"
    assert mixed_threshold(FUSED, ident("sface", flip=True)) is None, "not measured with flip"
    assert mixed_threshold(FUSED, dataclasses.replace(SFACE, weights_sha256="0" * 64)) is None, "other weights"
    assert mixed_threshold(SFACE, SFACE) is None
    assert pair_threshold(FUSED, SFACE)[0] == t and "declared by fused" in pair_threshold(SFACE, FUSED)[1]
    assert pair_threshold(FUSED, FUSED)[0] == model_config("fused").threshold
    assert pair_scale(SFACE, FUSED, SFACE) == pytest.approx(model_config("sface").threshold / t)
    assert pair_scale(SFACE, SFACE, SFACE) == 1.0
    check_comparable(SFACE, FUSED)
    flipped = ident("sface", flip=True)
    with pytest.raises(ModelMismatchError) as info:
        check_comparable(flipped, FUSED)
    assert flipped.describe() in str(info.value) and FUSED.describe() in str(info.value)
    assert "compatible_with" in str(info.value)


def test_fit_mixed_threshold_matches_brute_force():
    rng = np.random.default_rng(3)
    old = people(12, seed=1)
    new = near(old, 1.0, seed=2)
    a, b = rng.integers(0, 12, 40), rng.integers(0, 12, 40)
    same = rng.random(40) < 0.5
    b[same] = a[same]
    cal = fit_mixed_threshold(new, old, a, b, same)
    d = np.concatenate([[np.sum((new[i] - old[j]) ** 2) for i, j in zip(a, b)],
                        [np.sum((old[i] - new[j]) ** 2) for i, j in zip(a, b)]])
    lab = np.concatenate([same, same])
    best = max(np.mean((d < t) == lab) for t in np.concatenate([d, d + 1e-6]))
    assert cal.accuracy_ == pytest.approx(best) and cal.n_pairs_ == 80
    with pytest.raises(ValueError, match="fit_mixed_threshold"):
        fit_mixed_threshold(new, old[:5], a, b, same)


def _gallery(store, query: ModelIdentity) -> Gallery:
    return Gallery(store, search=search_for(store, store.location), auto_threshold=AutoThreshold(store), query_model=query)


def test_an_sface_gallery_takes_fused_and_refuses_the_rest(store_factory):
    s = store_factory(SFACE)
    s.add_faces("Ann", [NewFace(people(1)[0])])
    g = _gallery(s, FUSED)
    assert g.identity == SFACE and g.query_identity == FUSED
    g.store.add_faces("Ann", [NewFace(people(1, seed=1)[0])])
    assert s.model_counts() == {SFACE: 1, FUSED: 1}, "a face enrolled through the gallery is the query model's"
    threshold, source = g.threshold()
    assert "fused queries vs sface faces" in source and "fused queries vs fused faces" in source
    for other in (ident("sface", flip=True), ident("fused", flip=True), dataclasses.replace(FUSED, weights_sha256="1" * 64)):
        with pytest.raises(ModelMismatchError) as info:
            _gallery(s, other)
        assert other.describe() in str(info.value)
    # each pair kind's share of the identification threshold (on SFace's scale)
    assert {k["faces"]: k["threshold"] for k in g.pair_kinds()}["sface"] == pytest.approx(1 / pair_scale(SFACE, FUSED, SFACE))


def test_identify_across_kinds_matches_brute_force(store_factory):
    s = store_factory(SFACE)
    centres = people(40, seed=5)
    s.bulk_add([(f"p{i:02d}", [NewFace(near(c, 0.9, seed=i))]) for i, c in enumerate(centres)])
    g = _gallery(s, FUSED)
    for i in range(0, 40, 3):  # some people have fused faces too (enrolled since), a few only those
        g.store.add_faces(f"p{i:02d}", [NewFace(near(centres[i], 0.9, seed=100 + i))])
    q = near(centres[:12], 0.9, seed=7)
    threshold, _ = g.threshold()
    got = g.identify_embeddings(q, k=4)
    ids, emb, names = s.all_embeddings()
    models = s.face_info(ids.tolist())
    scale = {m: pair_scale(SFACE, FUSED, m) for m in (SFACE, FUSED)}
    for qi, r in enumerate(got):
        best: dict[str, tuple[float, float]] = {}
        for fid, e, n in zip(ids, emb, names):
            d = float(np.sum((q[qi] - e) ** 2))
            c = scale[models[int(fid)][1]]
            if n not in best or d * c < best[n][0] * best[n][1]:
                best[n] = (d, c)
        order = sorted(best, key=lambda n: best[n][0] * best[n][1])[:4]
        assert [c.name for c in r.candidates] == order
        np.testing.assert_allclose([c.distance for c in r.candidates], [best[n][0] for n in order], atol=2e-2 if "int8" in
                                   store_factory.name else 1e-5)
        d, c = best[order[0]]
        assert r.threshold == pytest.approx(threshold / c, rel=1e-5)
        assert r.name == (order[0] if d * c < threshold else "unknown")
    assert sum(r.name == f"p{i:02d}" for i, r in enumerate(got)) >= 10


def test_auto_threshold_in_a_mixed_or_upgraded_gallery(store_factory):
    s = store_factory(SFACE)
    centres = people(30, seed=8)
    s.bulk_add([(f"p{i}", [NewFace(near(c, 1.0, seed=i))]) for i, c in enumerate(centres)])
    s.bulk_add([(f"p{i}", [NewFace(near(c, 0.2, seed=50 + i), model=FUSED)]) for i, c in enumerate(centres)])
    auto = AutoThreshold(s)
    auto(30, 60, 1e-2)
    assert auto.describe()["adapted"]["faces"] == 30, "adapted on the gallery model's faces only"
    for name in ("fused", "fused-casia"):  # no impostor model of their own: SFace's, rescaled
        base, desc = AutoThreshold(store_factory(ident(name))).base_model()
        shipped = AutoThreshold(s).base_model()[0]
        c = model_config(name).threshold / model_config("sface").threshold
        np.testing.assert_allclose(base.loc, shipped.loc * c)
        np.testing.assert_allclose(base.scale, shipped.scale * c)
        assert "rescaled" in desc and "sface" in desc
        # with flip: SFace+flip's model, rescaled by the two flip thresholds (not the verification fallback)
        base_f, desc_f = AutoThreshold(store_factory(ident(name, flip=True))).base_model()
        sface_f = AutoThreshold(store_factory(ident("sface", flip=True))).base_model()[0]
        c_f = model_config(name).verification_threshold(True) / model_config("sface").verification_threshold(True)
        np.testing.assert_allclose(base_f.loc, sface_f.loc * c_f)
        np.testing.assert_allclose(base_f.scale, sface_f.scale * c_f)
        assert "sface+flip" in desc_f and "rescaled" in desc_f
    retrained = store_factory(dataclasses.replace(FUSED, weights_sha256="0" * 64))
    assert AutoThreshold(retrained).base_model() is None  # unknown weights: no model to borrow either


def test_export_import_keeps_each_face_model(store_factory, tmp_path):
    from facenet.gallery.transfer import export_gallery, import_gallery

    s = store_factory(SFACE)
    s.add_faces("Ann", [NewFace(people(1)[0], "a" * 64), NewFace(people(1, seed=1)[0], "b" * 64, model=FUSED)])
    assert export_gallery(s, tmp_path / "x.npz") == 2
    t = store_factory(SFACE)
    assert import_gallery(t, tmp_path / "x.npz")["faces_added"] == 2
    assert sorted(f.model.model for f in t.faces("Ann")) == ["fused", "sface"]
    with pytest.raises(ModelMismatchError):
        import_gallery(store_factory(ident("sface", flip=True)), tmp_path / "x.npz")


# ---------------------------------------------------------------- upgrade (a stand-in pipeline)

class FakePipeline:
    """Photos are files holding "face <i>" (or "blank"); each has one face at box (1, 2, 30 + i, 40)
    (make_faces' boxes); ``fused`` embeds face i as a fixed unit vector."""

    flip = False

    def __init__(self, fail_on: int | None = None) -> None:
        self.embedder = SimpleNamespace(config=model_config("fused"))
        self.fail_on = fail_on
        self.vectors = people(50, seed=42)

    def crop_all(self, path):
        text = open(path).read()
        if text == "blank":
            return SimpleNamespace(crops=np.zeros((0, 1)), detections=SimpleNamespace(boxes=np.zeros((0, 4))))
        i = int(text.split()[1])
        return SimpleNamespace(crops=np.array([[i]]), detections=SimpleNamespace(boxes=np.array([[1.0, 2.0, 30.0 + i, 40.0]])))

    def embed_faces(self, crops):
        if self.fail_on is not None and int(crops[0][0]) == self.fail_on:
            raise KeyboardInterrupt("killed in the middle of a person")
        return self.vectors[[int(c[0]) for c in crops]]


def _sface_gallery(store_factory, tmp_path, make_faces):
    s = store_factory(SFACE)
    faces = make_faces(6, dim=D)  # photo SHA-256 f"{i:064x}", box (1, 2, 30 + i, 40)
    s.add_faces("Ann", faces[:3])
    s.add_faces("Bob", faces[3:5])
    s.add_faces("Cy", [dataclasses.replace(faces[5], box=(float("nan"),) * 4)])  # no box stored
    photos = tmp_path / "photos" / "sub"
    photos.mkdir(parents=True)
    import facenet.gallery.upgrade as up

    by_sha = {}
    for i in range(6):
        p = photos / f"{i}.jpg"
        p.write_text(f"face {i}")
        by_sha[f"{i:064x}"] = p
    return s, photos.parent, by_sha, up


def test_upgrade_with_photos_present_and_missing(store_factory, tmp_path, make_faces, monkeypatch):
    s, photos, by_sha, up = _sface_gallery(store_factory, tmp_path, make_faces)
    # the photos are found by their SHA-256: stand in for the hash of the fake files
    monkeypatch.setattr(up, "index_photos", lambda dirs: {k: v for k, v in by_sha.items() if k != f"{4:064x}"})
    (photos / "sub" / "1.jpg").write_text("blank")  # the face is not found again
    g = Gallery(s, FakePipeline())
    r = g.upgrade([photos])
    assert (r.upgraded, r.already) == (3, 0) and r.left == {up.NO_PHOTO: 1, up.NO_FACE: 1, up.NO_BOX: 1}
    assert not r.complete and s.identity == SFACE
    assert s.model_counts() == {SFACE: 3, FUSED: 3}
    ann = {f.photo_sha256: f for f in s.faces("Ann")}
    assert ann[f"{0:064x}"].model == FUSED and ann[f"{1:064x}"].model == SFACE
    np.testing.assert_allclose(ann[f"{2:064x}"].embedding, FakePipeline().vectors[2], atol=0.02)
    # the rest of the photos turn up (and Cy is enrolled again with the new model): the gallery becomes fused
    s.remove_faces([f.face_id for f in s.faces("Cy")])
    (photos / "sub" / "1.jpg").write_text("face 1")
    monkeypatch.setattr(up, "index_photos", lambda dirs: by_sha)
    g.store_calibration({"threshold": 1.3, "model": SFACE.to_dict()})  # made with SFace: not fused's
    g.set_threshold(1.0)
    r = g.upgrade([photos])
    assert (r.upgraded, r.already, r.left) == (2, 3, {}) and r.complete
    assert len(r.notes) == 2 and g.verification_calibration() is None
    c = model_config("fused").threshold / model_config("sface").threshold
    assert g.threshold()[0] == pytest.approx(c) and "rescaled" in g.threshold()[1]
    g.set_threshold(None)
    assert s.identity == FUSED and store_factory.reopen(s).identity == FUSED
    assert g.identity == FUSED and g.pair_kinds() == [{"query": "fused", "faces": "fused", "scale": 1.0, "threshold": 1.0,
                                                        "source": "fused's verification threshold"}]
    assert g.identify_embeddings(FakePipeline().vectors[[3]], k=1)[0].name == "Bob"


def test_upgrade_is_one_transaction_per_person(store_factory, tmp_path, make_faces, monkeypatch):
    s, photos, by_sha, up = _sface_gallery(store_factory, tmp_path, make_faces)
    monkeypatch.setattr(up, "index_photos", lambda dirs: by_sha)
    with pytest.raises(KeyboardInterrupt):
        Gallery(s, FakePipeline(fail_on=4)).upgrade([photos])  # stopped at Bob's second face
    assert {f.subject: f.model for f in s.faces() if f.subject != "Cy"} == {"Ann": FUSED, "Bob": SFACE}
    assert [f.model for f in s.faces("Bob")] == [SFACE, SFACE], "Bob whole or not at all"
    r = Gallery(s, FakePipeline()).upgrade([photos])
    assert (r.upgraded, r.already) == (2, 3), "a second run goes on where the first stopped"


def test_index_photos_hashes_every_image_under_the_folders(tmp_path):
    from facenet.errors import DataError
    from facenet.gallery.store import photo_sha256
    from facenet.gallery.upgrade import index_photos

    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "a" / "deep" / "x.JPG").write_bytes(b"x")
    (tmp_path / "a" / "y.png").write_bytes(b"y")
    (tmp_path / "a" / "notes.txt").write_bytes(b"z")
    (tmp_path / "a" / ".hidden.jpg").write_bytes(b"h")
    got = index_photos([tmp_path / "a"])
    assert got == {photo_sha256(b"x"): tmp_path / "a" / "deep" / "x.JPG", photo_sha256(b"y"): tmp_path / "a" / "y.png"}
    with pytest.raises(DataError, match="no such folder"):
        index_photos([tmp_path / "missing"])
