"""Training on the synthetic data set: loss falls, resume is bit-identical, export round-trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facenet.cli import main
from facenet.train import TrainConfig, train


def _cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(model="nns2", input_size=48, people_per_batch=8, images_per_person=4, steps=20, log_every=1,
                checkpoint_every=10, out=str(tmp_path / "run"), tensorboard=False, seed=3)
    return TrainConfig(**{**base, **kw})


def test_twenty_steps_loss_falls(tmp_path):
    r = train(_cfg(tmp_path, miner="batch_all", optimizer="adamw", lr=0.01), progress=False)
    losses = r.losses
    assert r.steps == 20 and len(losses) == 20 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    assert (tmp_path / "run" / "config.yaml").is_file() and (tmp_path / "run" / "last.pt").is_file()
    assert (tmp_path / "run" / "learning_curve.png").stat().st_size > 5000
    assert TrainConfig.from_yaml(tmp_path / "run" / "config.yaml") == _cfg(tmp_path, miner="batch_all", optimizer="adamw", lr=0.01)


@pytest.mark.parametrize("miner", ["semihard", "batch_hard"])
def test_other_miners_run(tmp_path, miner):
    r = train(_cfg(tmp_path, miner=miner, steps=4, optimizer="sgd", lr=0.01, grad_clip=1.0, schedule="cosine", warmup_steps=2), progress=False)
    assert r.steps == 4 and all(np.isfinite(r.losses))


def test_resume_is_bit_identical(tmp_path):
    straight = train(_cfg(tmp_path / "a", steps=12, checkpoint_every=6), progress=False)
    first = train(_cfg(tmp_path / "b", steps=6, checkpoint_every=6), progress=False)
    resumed = train(_cfg(tmp_path / "b", steps=12, checkpoint_every=6), resume=tmp_path / "b" / "run", progress=False)
    assert first.losses + resumed.losses == straight.losses  # exact float equality
    a = torch.load(tmp_path / "a" / "run" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "run" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_export_onnx_matches_and_plugs_into_pipeline(tmp_path, capsys):
    train(_cfg(tmp_path, steps=3), progress=False)
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "run" / "last.pt"), "--onnx", str(onnx_path)]) == 0
    assert "max |onnx - torch|" in capsys.readouterr().out
    from facenet import FacePipeline, create_model

    emb = create_model(str(onnx_path))
    assert emb.config.input_size == (48, 48) and emb.config.embedding_size == 128
    crops = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    e = emb.embed_faces(crops)
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    ref = create_model("nns2", pretrained=False)
    ref.module.load_state_dict(ck["model"])
    from dataclasses import replace

    ref.config = replace(ref.config, input_size=(48, 48))
    np.testing.assert_allclose(e, ref.embed_faces(crops), atol=1e-5)
    pipe = FacePipeline(embedder=str(onnx_path), threshold=1.0)
    assert pipe.embed(np.full((120, 120, 3), 90, np.uint8)).shape == (1, 128)


def test_cli_train_json_and_yaml(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: nns2\ninput_size: 40\nsteps: 3\npeople_per_batch: 4\nimages_per_person: 2\ntensorboard: false\n")
    rc = main(["train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--steps", "2", "--json", "--no-progress"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["steps"] == 2 and out["first_loss"] is not None


def test_time_budget_stops_with_a_checkpoint(tmp_path):
    r = train(_cfg(tmp_path, steps=10_000, max_minutes=0.0005), progress=False)
    assert 1 <= r.steps < 10_000 and r.checkpoint is not None and r.checkpoint.is_file()


def test_config_validation(tmp_path):
    with pytest.raises(ValueError, match="'optimizer' parameter"):
        TrainConfig(optimizer="adam")
    with pytest.raises(ValueError, match="did you mean 'margin'"):
        TrainConfig.from_dict({"margni": 0.3})
    with pytest.raises(ValueError, match="'people_per_batch' parameter"):
        TrainConfig(people_per_batch=1)


def test_fine_tune_with_pca_head_and_view_one_early_stopping(tmp_path, monkeypatch, lfw_dir):
    """init_from + head_init=pca (a stand-in "pretrained" 64-D nns2), validation at step 0 and
    best.pt keeping the best View 1 accuracy."""
    import facenet.models.registry as registry

    real = registry.create_model

    def fake(name, pretrained=None, **kw):
        if name == "fake-pretrained":
            torch.manual_seed(11)
            return real("nns2", pretrained=False, embedding_size=64)
        return real(name, pretrained=pretrained, **kw)

    monkeypatch.setattr(registry, "create_model", fake)
    cfg = _cfg(tmp_path, steps=4, embedding_size=16, init_from="fake-pretrained", head_init="pca", head_pca_images=40,
               backbone_lr_mult=0.1, optimizer="adamw", lr=1e-3, lfw_root=str(lfw_dir), val_pairs=20, val_every=2)
    r = train(cfg, progress=False)
    head = [h for h in r.history if "head_explained_variance" in h]
    assert len(head) == 1 and 0.0 < head[0]["head_explained_variance"] < 1.0 and head[0]["head_n"] == 40
    vals = [h for h in r.history if "val_accuracy" in h]
    assert [h["step"] for h in vals] == [0, 2, 4]
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    top = max(vals, key=lambda h: (round(h["val_accuracy"], 6), h["val_auc"]))
    assert best["step"] == top["step"] and best["metrics"]["val_accuracy"] == top["val_accuracy"]
    assert main(["export", str(tmp_path / "run" / "best.pt"), "--onnx", str(tmp_path / "best.onnx")]) == 0
    from facenet.models.onnx_meta import config_from_onnx

    cfg_onnx = config_from_onnx(tmp_path / "best.onnx")  # View 1's best threshold ships as the calibrated one
    assert 0.0 <= best["metrics"]["val_threshold"] <= 4.0
    assert cfg_onnx.threshold == pytest.approx(best["metrics"]["val_threshold"]) and "View 1" in cfg_onnx.threshold_source


def test_export_register_makes_a_named_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACENET_HOME", str(tmp_path / "home"))
    train(_cfg(tmp_path, steps=2), progress=False)
    ck = str(tmp_path / "run" / "last.pt")
    assert main(["export", ck, "--onnx", str(tmp_path / "m.onnx"), "--register", "my-net"]) == 0
    assert "--embedder my-net" in capsys.readouterr().out
    from facenet import FacePipeline, create_model
    from facenet.models.registry import list_models, model_config

    assert "my-net" in list_models() and model_config("my-net").input_size == (48, 48)
    assert model_config("my-net").name == "my-net" and model_config("my-net").threshold is None  # last.pt: not validated
    crops = np.random.default_rng(1).integers(0, 256, (2, 48, 48, 3), dtype=np.uint8)
    np.testing.assert_allclose(create_model("my-net").embed_faces(crops),
                               create_model(str(tmp_path / "m.onnx")).embed_faces(crops), atol=1e-6)
    assert FacePipeline(embedder="my-net", threshold=1.0).embed(np.full((120, 120, 3), 90, np.uint8)).shape == (1, 128)
    assert main(["models", "--json"]) == 0
    assert "my-net" in [r["name"] for r in json.loads(capsys.readouterr().out)]
    # taken and built-in names are refused with a message; --force replaces
    assert main(["export", ck, "--onnx", str(tmp_path / "m.onnx"), "--register", "my-net"]) == 2
    assert "already registered" in capsys.readouterr().err
    assert main(["export", ck, "--onnx", str(tmp_path / "m.onnx"), "--register", "my-net", "--force"]) == 0
    assert main(["export", ck, "--onnx", str(tmp_path / "m.onnx"), "--register", "sface"]) == 2
    assert "built-in" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no untrained form"):
        create_model("my-net", pretrained=False)
