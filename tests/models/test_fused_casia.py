"""The ``fused-casia`` model: SFace + dlib + CASIA IR-v1 features through the trained head."""

from __future__ import annotations

import numpy as np
import pytest

from facenet.models import fused, fused_casia
from facenet.weights import sha256_file, verified_path


def test_config_is_pinned_and_says_research_use_only():
    cfg = fused_casia.FUSED_CASIA
    assert cfg.name == "fused-casia" and cfg.embedding_size == 128
    assert cfg.input_size == (112, 112) and cfg.template == "arcface_112"  # the crop fused and sface take
    assert "RESEARCH USE ONLY" in cfg.licence and "research" in cfg.weights.licence
    assert cfg.weights is fused_casia.HEAD and len(cfg.components) == 3
    for w in (cfg.weights, *cfg.components):  # every file the model reads, SHA-256 checked
        assert sha256_file(verified_path(w)) == w.sha256
    assert cfg.threshold is not None and 0 < cfg.threshold < 4  # calibrated on LFW View 1
    head = fused.load_head(verified_path(cfg.weights))
    assert head["W"].shape == (768, 128) and head["b"].shape == (128,)
    assert sum(d for _, d in fused_casia.BRANCHES) == 768


def test_casia_crops_are_the_crops_resized():
    import cv2

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    out = fused_casia.casia_crops(crops)
    assert out.shape == (2, 160, 160, 3) and out.dtype == np.uint8
    for c, o in zip(crops, out):
        np.testing.assert_array_equal(o, cv2.resize(c, (160, 160), interpolation=cv2.INTER_LINEAR))
    assert fused_casia.casia_crops(crops[:0]).shape == (0, 160, 160, 3)


def test_no_untrained_form():
    with pytest.raises(ValueError, match="trained head"):
        fused_casia.build(fused_casia.FUSED_CASIA, pretrained=False)


@pytest.fixture(scope="module")
def crops(lfw_dir):
    from facenet.align.cropper import FaceCropper

    paths = sorted((lfw_dir / "Aaron_Peirsol").glob("*.jpg"))[:3] + sorted((lfw_dir / "Abdullah_Gul").glob("*.jpg"))[:1]
    return FaceCropper("yunet").crop_primary(paths).crops


@pytest.mark.slow  # three networks on CPU, with flip: about 10-20 s under load
def test_embeddings_branches_flip_and_harmony(crops):
    from facenet.models.base import l2_normalise
    from facenet.models.registry import create_model

    emb = create_model("fused-casia", threads=1, batch_size=4)
    flip = emb.embed_faces(crops, flip=True)  # the pipeline's flip TTA path (plain + mirrored crops)
    assert flip.shape == (4, 128) and flip.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(flip, axis=1), 1.0, atol=1e-5)
    f = emb.features(crops)
    fm = emb.features(np.ascontiguousarray(crops[:, :, ::-1]))
    cat = lambda g: np.concatenate([g[k] for k, _ in fused_casia.BRANCHES], 1)  # noqa: E731
    out, mirror = fused_casia.project(cat(f), emb.head), fused_casia.project(cat(fm), emb.head)
    np.testing.assert_allclose(flip, l2_normalise(out + mirror), atol=1e-5)
    # SFace and dlib are fused's own branches; CASIA is the registered CASIA model on the resized crop
    ref = emb.fused.features(crops)
    np.testing.assert_array_equal(f["sface"], ref["sface"])
    np.testing.assert_array_equal(f["dlib"], ref["dlib"])
    casia = create_model("inception-resnet-v1.casia", threads=1).embed_faces(fused_casia.casia_crops(crops))
    np.testing.assert_allclose(f["casia"], casia, atol=1e-5)
    d = ((out[:, None] - out[None]) ** 2).sum(-1)
    assert max(d[0, 1], d[0, 2], d[1, 2]) < d[:3, 3].min()  # same person closer than the stranger
    # harmonic: the query is closer to the same person's SFace vector than to the stranger's
    ds = ((out[:, None] - f["sface"][None]) ** 2).sum(-1)
    assert ds[0, 1] < ds[0, 3] and ds[1, 2] < ds[1, 3]
