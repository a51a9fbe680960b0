"""The shipped clustering settings: present for SFace, chosen off LFW, read by cluster_embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facenet.cluster import threshold
from facenet.cluster.methods import METHODS
from facenet.cluster.threshold import calibrated_models, default_options, default_threshold
from facenet.errors import UncalibratedError

SHIPPED = Path(threshold.__file__).with_name(threshold.SHIPPED)


def test_shipped_models_and_methods():
    assert set(calibrated_models()) >= {"sface", "sface+flip", "fused", "fused+flip"}
    for model in calibrated_models():
        for method in METHODS:
            if method == "kmeans":
                continue
            opts = default_options(model, method)
            assert "CelebA" in opts["source"] and model in opts["source"]
            if method != "hdbscan":
                t, source = default_threshold(model, method)
                assert 0.0 < t < 4.0 and source == opts["source"]


def test_chosen_on_celeba_without_lfw_identities():
    table = json.loads(SHIPPED.read_text())
    split = table["split"]
    assert set(split["left_out_identities"]) >= {"07398", "07448", "07218", "07355", "07261", "07312"}
    assert split["merged"] == {"07393": "07392"}
    g = table["models"]["sface"]["graph"]
    assert g["partition"] in ("average", "components", "whispers") and g["neighbors"] >= 1
    assert 0.0 < g["celeba"]["objective"] <= 1.0
    sa = g["size_aware"]  # the opt-in (uncapped) size-aware calibration, beside the default
    assert 0.0 < sa["pair_fpir"] < 1.0 and sa["size_power"] > 0 and 0.0 < sa["threshold"] < 4.0
    assert "pair_fpir" not in g or "size_limit" in g  # the uncapped rule is never the default
    if g.get("rule", "fixed") != "fixed":  # a size-aware rule capped at the fixed threshold (merge or detach), and better
        fixed = g["fixed"]
        assert g["threshold"] == fixed["threshold"] and g["neighbors"] == fixed["neighbors"]
        assert 0.0 < g["pair_fpir"] < 1.0 and g["size_power"] > 0 and 0.0 < g["size_limit"] < 4.0
        assert g["celeba"]["objective"] > fixed["celeba"]["objective"]
    else:
        assert "pair_fpir" not in g


def test_accurate_presets_entries_load_and_say_what_they_rest_on():
    table = json.loads(SHIPPED.read_text())
    assert list(table["models"])[:2] == ["sface", "sface+flip"]  # the first calibration's entries stay first
    for model in ("fused", "fused+flip", "fused-casia", "fused-casia+flip"):
        if model not in table["models"]:
            assert model.startswith("fused-casia")  # calibrated after fused (bench/cluster_lfw.py --models)
            continue
        g = default_options(model, "graph")
        assert g["source"].endswith(f"for {model}") and "CelebA-wild" in g["source"]
        assert default_threshold(model)[0] == g["threshold"] and 0.0 < g["threshold"] < 4.0
        notes = table["models"][model]
        assert "not fully held out" in notes["held_out"] and "without their labels" in notes["held_out"]
        # plain and flip alike: SFace's (or SFace + flip's) shipped impostor model, rescaled as the gallery does
        assert "rescaled" in notes["impostor_model"] and "size_rules" not in g
        if g["rule"] != "fixed":
            assert g["celeba"]["objective"] > g["fixed"]["celeba"]["objective"] and g["size_rule"] == "detach"


def test_unknown_model_or_method():
    with pytest.raises(UncalibratedError, match="nns2"):
        default_threshold("nns2")
    with pytest.raises(UncalibratedError, match="kmeans"):
        default_threshold("sface", "kmeans")
    with pytest.raises(UncalibratedError, match="no distance threshold"):
        default_threshold("sface", "hdbscan")
