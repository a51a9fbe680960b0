"""`facenet evaluate clustering` end to end on a handful of real LFW photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facenet.cli import main

PEOPLE = {"George_W_Bush": 4, "Colin_Powell": 3, "Tony_Blair": 3, "Serena_Williams": 2, "Aaron_Eckhart": 1, "Zico": 1}
KEYS = {"images", "clustered", "no_face", "people", "method", "threshold", "threshold_source", "pairwise_precision",
        "pairwise_recall", "pairwise_f1", "bcubed_precision", "bcubed_recall", "bcubed_f", "nmi", "clusters_found",
        "clusters_true", "seconds_embedding", "seconds_clustering", "embeddings_cached", "failed"}


@pytest.fixture(scope="module")
def tiny_lfw(lfw_dir: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lfw_cluster")
    for name, n in PEOPLE.items():
        (root / name).mkdir()
        for i in range(1, n + 1):
            f = f"{name}_{i:04d}.jpg"
            (root / name / f).symlink_to(lfw_dir / name / f)
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("embedding_cache")


def _run(capsys, *argv: str) -> tuple[int, dict]:
    rc = main(["evaluate", "clustering", "--no-progress", "--json", *argv])
    return rc, json.loads(capsys.readouterr().out)


def test_scores_and_cache(tiny_lfw: Path, cache: Path, capsys):
    tmp_path = cache
    rc, r = _run(capsys, "--root", str(tiny_lfw), "--cache", str(tmp_path))
    assert rc == 0 and KEYS <= set(r)
    assert r["images"] == r["clustered"] == 14 and r["people"] == r["clusters_true"] == 6
    assert r["method"] == "graph" and "CelebA" in r["threshold_source"]
    assert r["pairwise_f1"] > 0.9 and r["bcubed_f"] > 0.9  # SFace on clean LFW photos of 6 people
    assert not r["embeddings_cached"] and r["seconds_embedding"] > 0
    assert len(list(tmp_path.glob("*.npz"))) == 1
    rc, again = _run(capsys, "--root", str(tiny_lfw), "--cache", str(tmp_path), "--method", "agglomerative")
    assert rc == 0 and again["embeddings_cached"] and again["seconds_embedding"] == 0
    assert again["method"] == "agglomerative" and again["images"] == 14


def test_explicit_threshold_kmeans_and_bad_file(tiny_lfw: Path, tmp_path: Path, capsys):
    root = tmp_path / "root"
    root.mkdir()
    for d in tiny_lfw.iterdir():
        (root / d.name).symlink_to(d)
    (root / "Broken").mkdir()
    (root / "Broken" / "Broken_0001.jpg").write_bytes(b"not a jpeg")
    rc, r = _run(capsys, "--root", str(root), "--threshold", "0.01")
    assert rc == 1 and r["clustered"] == 14 and r["images"] == 15
    assert [f["path"].endswith("Broken_0001.jpg") for f in r["failed"]] == [True]
    assert r["threshold"] == 0.01 and r["threshold_source"] == "given" and r["clusters_found"] == 14  # nothing that close
    rc, r = _run(capsys, "--root", str(tiny_lfw), "--method", "kmeans", "--k", "6", "--cache", str(tmp_path))
    assert rc == 0 and r["threshold"] is None and r["options"] == {"k": 6}


def test_text_output_and_usage_errors(tiny_lfw: Path, cache: Path, tmp_path: Path, capsys):
    assert main(["evaluate", "clustering", "--no-progress", "--root", str(tiny_lfw), "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "pairwise" in out and "BCubed" in out and "clusters" in out
    assert main(["evaluate", "clustering", "--no-progress", "--root", str(tiny_lfw), "--cache", str(cache), "--method", "kmeans"]) == 2
    assert "'k'" in capsys.readouterr().err
    assert main(["evaluate", "clustering", "--root", str(tmp_path / "missing")]) == 1


def test_preset_accurate_clusters_with_the_fused_settings(tiny_lfw: Path, capsys, monkeypatch):
    import facenet.pipeline
    from facenet.models.registry import create_model, model_config

    real, asked = facenet.pipeline.FacePipeline, []

    def pipeline(detector="yunet", embedder="sface", **kw):  # SFace's network under fused's identity: no dlib run here
        asked.append(embedder)
        stand_in = create_model("sface")
        stand_in.config = model_config(embedder)
        return real(detector, stand_in, **kw)

    monkeypatch.setattr(facenet.pipeline, "FacePipeline", pipeline)
    rc, r = _run(capsys, "--root", str(tiny_lfw), "--preset", "accurate")
    assert rc == 0 and asked == ["fused"] and r["model"] == "fused" and r["threshold_source"].endswith("for fused")
    assert r["threshold"] == model_settings("fused")["threshold"]
    rc, r = _run(capsys, "--root", str(tiny_lfw), "--preset", "accurate", "--embedder", "sface")
    assert rc == 0 and asked == ["fused", "sface"] and r["threshold_source"].endswith("for sface")


def model_settings(model: str) -> dict:
    from facenet.cluster.threshold import default_options

    return default_options(model, "graph")
