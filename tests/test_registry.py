"""One registry shape: every registered detector, model and miner builds through it, typed, with
options filtered in one place."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facenet.detect import Detector, DetectorConfig, create_detector, detector_config, list_detectors
from facenet.errors import UnknownModelError
from facenet.mining import create_miner, list_miners
from facenet.models import Embedder, ModelConfig, create_model, list_models, model_config
from facenet.models.registry import builtin_models
from facenet.registry import Entry, Registry, filter_kwargs
from facenet.settings import Settings


@pytest.mark.parametrize("name", list_detectors())
def test_every_detector_builds_typed(name):
    det = create_detector(name)
    assert isinstance(det, Detector) and isinstance(detector_config(name), DetectorConfig)
    assert det.detect(np.zeros((64, 64, 3), np.uint8)).boxes.shape == (0, 4)
    assert detector_config(name).weights and all(len(w.sha256) == 64 for w in detector_config(name).weights)


@pytest.mark.parametrize("name", builtin_models())
def test_every_model_builds_typed_with_its_config(name):
    cfg = model_config(name)
    assert isinstance(cfg, ModelConfig) and cfg.name == name
    assert cfg.channel_order in ("RGB", "BGR") and len(cfg.mean) == len(cfg.std) == 3 and cfg.embedding_size >= 1
    assert cfg.threshold is None or cfg.weights is not None  # a calibrated threshold needs trained weights
    if cfg.weights is not None and name != "sface":
        return  # the ported 512-D IR-v1 takes ~1 s to port; its own tests cover it
    emb = create_model(name, pretrained=cfg.weights is not None, batch_size=2)
    assert isinstance(emb, Embedder)
    h, w = cfg.input_size
    out = emb.embed_faces(np.random.default_rng(0).integers(0, 256, (3, h, w, 3), dtype=np.uint8))
    assert out.shape == (3, cfg.embedding_size) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_arch_tag_names_and_aliases():
    assert "inception-resnet-v1.casia" in list_models() and "facenet-casia-irv1" not in list_models()
    assert model_config("facenet-casia-irv1") is model_config("inception-resnet-v1.casia") or \
        model_config("facenet-casia-irv1") == model_config("inception-resnet-v1.casia")
    assert model_config("inception-resnet-v1").weights is None  # the architecture, untrained
    with pytest.raises(UnknownModelError, match="Did you mean 'inception-resnet-v1.casia'"):
        model_config("inception-resnet-v1.casiaa")


def test_options_are_filtered_in_one_place():
    # a shared option the model does not take is dropped; anything else is refused with the list
    assert isinstance(create_model("nns2", backend="onnxruntime"), Embedder)
    assert create_model("sface", device="cpu", threads=1).threads == 1
    with pytest.raises(ValueError, match="Unknown options for model 'sface': 'embedding_size'; it takes"):
        create_model("sface", embedding_size=64)
    with pytest.raises(ValueError, match="Unknown options for detector 'yunet': 'min_face_size'"):
        create_detector("yunet", min_face_size=10)
    assert create_detector("yunet", threads=1).score_threshold == 0.6  # shared and unused: dropped


@pytest.mark.parametrize("name", list_miners())
def test_every_miner_takes_the_trainer_options(name):
    miner = create_miner(name, margin=0.2, seed=0)  # what the trainer passes to any miner
    emb = torch.nn.functional.normalize(torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    t = miner(emb, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]))
    assert len(t.anchors) == len(t.positives) == len(t.negatives)
    with pytest.raises(ValueError, match=f"Unknown options for miner '{name}': 'colour'"):
        create_miner(name, colour="red")


def test_filter_kwargs_and_registry_lookup():
    def build(config, a=1, b=2):
        return config, a, b

    assert filter_kwargs(build, {"a": 3, "z": 0}, shared=("z",)) == {"a": 3}
    with pytest.raises(ValueError, match="Unknown options for build: 'q'; it takes a, b."):
        filter_kwargs(build, {"q": 1})
    reg: Registry = Registry("thing", lambda: (Entry("one", "cfg-1", "tests.test_registry:_builder", aliases=("uno",)),))
    assert reg.names() == ["one"] and reg.config("UNO") == "cfg-1"
    with pytest.raises(UnknownModelError, match="Unknown thing 'onee'. Did you mean 'one'"):
        reg.entry("onee")


def test_user_models_come_from_the_settings_folder(tmp_path):
    s = Settings.at(tmp_path)
    assert list_models(s) == builtin_models()  # nothing registered there yet
    (s.models_dir).mkdir(parents=True)
    (s.models_dir / "Bad Name.onnx").write_bytes(b"")  # not a valid registered name: ignored
    assert list_models(s) == builtin_models()
