"""The automatic identification threshold: shipped or calibrated impostor model, adapted to the
gallery's own people, recomputed when the gallery changes."""

from __future__ import annotations

import numpy as np
import pytest

from facenet.gallery.auto_threshold import AutoThreshold
from facenet.gallery.gallery import Gallery
from facenet.gallery.impostor import ImpostorModel, adapt_impostor_model, fit_impostor_model
from facenet.gallery.sqlite_store import SQLiteStore
from facenet.gallery.store import ModelIdentity, ModelMismatchError

D = 16
SFACE = ModelIdentity("sface", "ab" * 32, D, False)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def people(n: int, per: int, seed: int = 0, spread: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n, D))
    owner = np.repeat(np.arange(n), per)
    return unit(centres[owner] + spread * rng.normal(size=(n * per, D))), owner


def test_adapt_matches_a_brute_force_loop():
    x, owner = people(25, 2)
    base = ImpostorModel.shipped("sface")
    m = adapt_impostor_model(base, x, owner)
    assert np.array_equal(m.z, base.z) and np.array_equal(m.log_cdf, base.log_cdf)  # the shape is kept
    for i in (0, 7, 49):
        d = [float(np.sum((x[i] - x[j]) ** 2)) for j in range(len(x)) if owner[j] != owner[i]]
        assert m.loc[i] == pytest.approx(np.mean(d), abs=1e-5) and m.scale[i] == pytest.approx(np.std(d), abs=1e-5)
    assert m.meta["adapted"]["subjects"] == 25 and m.meta["adapted"]["probes"] == 50


def test_adapt_leaves_a_small_gallery_alone_and_samples_a_large_one():
    base = ImpostorModel.shipped("sface")
    x, owner = people(5, 2)
    assert adapt_impostor_model(base, x, owner) is base  # 5 people say too little
    x, owner = people(300, 2)
    m = adapt_impostor_model(base, x, owner, max_probes=64, max_comparisons=100, seed=3)
    assert len(m.loc) == 64 and m.meta["adapted"]["comparisons"] == 100
    again = adapt_impostor_model(base, x, owner, max_probes=64, max_comparisons=100, seed=3)
    assert np.array_equal(m.loc, again.loc)  # seeded
    with pytest.raises(ValueError, match="N subjects"):
        adapt_impostor_model(base, x, owner[:-1])


def test_a_gallery_of_closer_strangers_gets_a_stricter_threshold():
    base = ImpostorModel.shipped("sface")
    far_apart, o1 = people(40, 2, spread=0.3)
    rng = np.random.default_rng(1)
    common = rng.normal(size=D)
    close = unit(far_apart + 0.8 * common)  # everyone shares a direction: strangers are closer
    t_far = adapt_impostor_model(base, far_apart, o1).threshold(40, 1e-2, 2.0)
    t_close = adapt_impostor_model(base, close, o1).threshold(40, 1e-2, 2.0)
    assert t_close < t_far


def _gallery(tmp_path, identity=SFACE) -> Gallery:
    store = SQLiteStore.create(tmp_path / "g.gallery", identity)
    return Gallery(store, auto_threshold=AutoThreshold(store))


def test_gallery_threshold_follows_its_people_and_says_so(tmp_path):
    g = _gallery(tmp_path)
    x, owner = people(30, 2)
    for p in range(10):
        g.add_embeddings(f"p{p}", x[owner == p], SFACE)
    t10, src10 = g.threshold()
    assert "not adapted" in src10 and "10 enrolled" in src10
    assert t10 == pytest.approx(ImpostorModel.shipped("sface").threshold(10, 1e-2, 2.0))
    for p in range(10, 30):
        g.add_embeddings(f"p{p}", x[owner == p], SFACE)
    t30, src30 = g.threshold()
    assert "adapted to this gallery's 30 people" in src30 and "30 enrolled" in src30
    assert g.threshold() == (t30, src30)  # cached for an unchanged gallery
    g.set_fpir(1e-3)
    assert g.threshold()[0] < t30 and g.stats()["fpir_target"] == 1e-3
    g.set_threshold(1.1)
    assert g.threshold() == (1.1, "set by the user")
    g.close()


def test_calibration_stored_with_the_gallery(tmp_path):
    g = _gallery(tmp_path)
    x, owner = people(30, 2)
    for p in range(30):
        g.add_embeddings(f"p{p}", x[owner == p], SFACE)
    d = np.clip(2 - 2 * x @ x.T, 0, 4).astype(np.float64)
    d[owner[:, None] == owner[None, :]] = np.nan
    mine = fit_impostor_model(d, "sface", meta={"source": "my photos"})
    g.store_calibration({"threshold": 1.2, "far": 1e-3, "source": "my photos", "model": SFACE.to_dict()}, mine)
    t, src = g.threshold()
    assert "calibrated on my photos" in src
    assert g.verification_calibration()["threshold"] == 1.2
    g.close()
    g = Gallery(SQLiteStore.open(tmp_path / "g.gallery", SFACE))
    assert g.verification_calibration()["far"] == 1e-3  # it persists
    t_verif, src_verif = g.threshold()  # no automatic model given: the stored verification threshold
    assert t_verif == 1.2 and "calibrated on my photos" in src_verif
    other = ModelIdentity("arcface", "cd" * 32, D, False)
    with pytest.raises(ModelMismatchError):
        g.store_calibration({"threshold": 1.0, "model": other.to_dict()})
    g.close()


def test_a_model_without_an_impostor_model_uses_its_verification_threshold(tmp_path):
    g = _gallery(tmp_path, ModelIdentity("mobilefacenet", "", D, False))
    assert AutoThreshold(g.store).base_model() is None
    g.close()
