"""The ``fused`` model: SFace + dlib features through the trained head, harmonic with SFace."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from facenet.align.crop import ARCFACE_112
from facenet.models import fused
from facenet.models.base import l2_normalise
from facenet.weights import sha256_file, verified_path


def test_config_and_weights_are_pinned():
    cfg = fused.FUSED
    assert cfg.embedding_size == 128 and cfg.input_size == (112, 112) and cfg.template == "arcface_112"
    assert cfg.weights is fused.HEAD and len(cfg.components) == 2
    for w in (cfg.weights, *cfg.components):  # every file the model reads, SHA-256 checked
        assert sha256_file(verified_path(w)) == w.sha256
    assert cfg.threshold is not None and 0 < cfg.threshold < 4  # calibrated on LFW View 1
    head = fused.load_head(verified_path(cfg.weights))
    assert head["W"].shape == (256, 128) and head["b"].shape == (128,)


def test_project_is_a_unit_norm_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 256)).astype(np.float32)
    head = {"W": rng.normal(size=(256, 128)).astype(np.float32), "b": rng.normal(size=128).astype(np.float32)}
    y = fused.project(x, head)
    brute = np.stack([(xi @ head["W"] + head["b"]) / np.linalg.norm(xi @ head["W"] + head["b"]) for xi in x])
    np.testing.assert_allclose(y, brute, rtol=1e-4, atol=1e-5)
    identity = {"W": np.vstack([np.eye(128), np.zeros((128, 128))]).astype(np.float32), "b": np.zeros(128, np.float32)}
    np.testing.assert_allclose(fused.project(x, identity), l2_normalise(x[:, :128]), atol=1e-6)


def test_dlib_window_maps_the_arcface_template_onto_dlibs():
    from facenet.align.similarity import estimate_similarity

    m = fused.DLIB_WINDOW
    np.testing.assert_allclose(m, estimate_similarity(ARCFACE_112, fused.DLIB_150), atol=1e-12)
    mapped = np.c_[ARCFACE_112, np.ones(5)] @ m.T
    assert np.abs(mapped - fused.DLIB_150).max() < 3.0  # a similarity fit of 5 points: close, not exact
    assert abs(np.linalg.det(m[:, :2])) > 1  # dlib's chip is a zoom into the 112 crop


def test_no_untrained_form():
    with pytest.raises(ValueError, match="trained head"):
        fused.build(fused.FUSED, pretrained=False)


def test_listing_the_model_imports_neither_dlib_nor_torch():
    import subprocess

    code = ("import sys; from facenet.models import model_config; c = model_config('fused'); "
            "print(c.embedding_size, 'dlib' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["128", "False", "False"]


@pytest.fixture(scope="module")
def crops(lfw_dir):
    from facenet.align.cropper import FaceCropper

    paths = sorted((lfw_dir / "Aaron_Peirsol").glob("*.jpg"))[:3] + sorted((lfw_dir / "Abdullah_Gul").glob("*.jpg"))[:1]
    return FaceCropper("yunet").crop_primary(paths).crops


def test_embeddings_and_sface_branch(crops):
    from facenet.models.registry import create_model

    emb = create_model("fused", threads=1, batch_size=2)
    out = emb.embed_faces(crops)
    assert out.shape == (4, 128) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    f = emb.features(crops)
    assert f["sface"].shape == (4, 128) and f["dlib"].shape == (4, 128)
    # the SFace branch is SFace itself: a gallery enrolled with SFace sees the same vectors
    np.testing.assert_allclose(f["sface"], create_model("sface", threads=1).embed_faces(crops), atol=1e-5)
    np.testing.assert_allclose(out, fused.project(np.concatenate([f["sface"], f["dlib"]], 1), emb.head), atol=1e-5)
    d = ((out[:, None] - out[None]) ** 2).sum(-1)
    assert max(d[0, 1], d[0, 2], d[1, 2]) < d[:3, 3].min()  # same person closer than the stranger
    # harmonic: the fused query is closer to the same person's SFace vector than to the stranger's
    ds = ((out[:, None] - f["sface"][None]) ** 2).sum(-1)
    assert ds[0, 1] < ds[0, 3] and ds[1, 2] < ds[1, 3]
