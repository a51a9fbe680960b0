"""cluster_embeddings: every method finds well-separated people and obeys the cannot-link rule."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_helpers import people as _people  # noqa: E402
from cluster_helpers import same_partition as _same_partition  # noqa: E402

from facenet.cluster import methods
from facenet.cluster.constraints import has_conflicts
from facenet.cluster.methods import METHODS, ClusterResult, TooLargeError, cluster_embeddings, finish_labels
from facenet.errors import UncalibratedError, UsageError


def _kw(method):
    return {"k": 4} if method == "kmeans" else {} if method == "hdbscan" else {"threshold": 0.8}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_finds_the_people(method):
    x, who = _people()
    r = cluster_embeddings(x, method=method, **_kw(method))
    assert isinstance(r, ClusterResult) and r.method == method
    assert _same_partition(r.labels, who)
    assert r.n_clusters == 4 and r.labels.dtype == np.int64
    assert (r.threshold is None) == (method in ("kmeans", "hdbscan"))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_obeys_cannot_link(method):
    x, who = _people(1)
    groups = np.arange(len(x))
    groups[[0, 1]] = 100  # two faces of person 0 in one photo
    groups[[6, 12, 18]] = 200  # persons 1, 2, 3 together in one photo: fine
    r = cluster_embeddings(x, groups, method=method, **_kw(method))
    assert not has_conflicts(r.labels, groups).any()
    assert r.labels[0] != r.labels[1]
    assert set(r.labels[2:6].tolist()) <= {r.labels[0], r.labels[1]}  # person 0's other faces join one of the two
    rest = np.arange(6, len(x))
    assert _same_partition(r.labels[rest], who[rest]) and not set(r.labels[rest].tolist()) & set(r.labels[:6].tolist())


def test_graph_partitions_and_calibrated_default():
    x, who = _people(2)
    for part in ("average", "components", "whispers"):
        r = cluster_embeddings(x, threshold=0.8, partition=part, neighbors=5)
        assert _same_partition(r.labels, who) and r.options == {"neighbors": 5, "partition": part}
    x, who = _people(2, dim=128)  # the shipped SFace setting, on 128-D faces (random 32-D centres can come close)
    r = cluster_embeddings(x)
    assert 0 < r.threshold < 4 and "CelebA" in r.threshold_source
    assert _same_partition(r.labels, who)


def test_labels_largest_first_and_min_size():
    x, _ = _people(3, n_people=3, per=4)
    x = np.concatenate([x[:4], x[4:7], x[8:9]])  # clusters of 4, 3, 1
    r = cluster_embeddings(x, threshold=0.8, min_size=2)
    assert r.labels.tolist() == [0, 0, 0, 0, 1, 1, 1, -1]
    assert r.n_clusters == 2
    assert finish_labels(np.array([5, 5, -1, 2, 7, 7, 7])).tolist() == [1, 1, -1, 2, 0, 0, 0]


def test_edge_sizes():
    assert cluster_embeddings(np.zeros((0, 8), np.float32), threshold=1.0).n_clusters == 0
    for method in METHODS:
        r = cluster_embeddings(np.ones((1, 8), np.float32), method=method, **{**_kw(method), **({"k": 1} if method == "kmeans" else {})})
        assert r.labels.tolist() == [0]


def test_bad_parameters():
    x, _ = _people()
    with pytest.raises(ValueError, match="The 'method' parameter of cluster_embeddings must be one of"):
        cluster_embeddings(x, method="spectral")
    with pytest.raises(ValueError, match=r"The 'threshold' parameter of cluster_embeddings must be a float in \(0, 4\]"):
        cluster_embeddings(x, threshold=-1.0)
    with pytest.raises(ValueError, match="'k' parameter .* for method 'kmeans'"):
        cluster_embeddings(x, method="kmeans")
    with pytest.raises(ValueError, match="'min_size'"):
        cluster_embeddings(x, threshold=1.0, min_size=0)
    with pytest.raises(ValueError, match="'embeddings'"):
        cluster_embeddings(np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        cluster_embeddings(np.full((2, 3), np.nan))
    with pytest.raises(UncalibratedError):
        cluster_embeddings(x, model="nns2")
    assert cluster_embeddings(x, model="nns2", threshold=0.8).threshold_source == "given"


def test_quadratic_methods_refuse_large_inputs(monkeypatch):
    x, _ = _people()
    monkeypatch.setitem(methods.LIMITS, "agglomerative", 10)
    with pytest.raises(TooLargeError, match="'graph'") as e:
        cluster_embeddings(x, method="agglomerative", threshold=1.0)
    assert isinstance(e.value, UsageError)
    assert cluster_embeddings(x, method="graph", threshold=1.0).n_clusters == 4


def test_hdbscan_takes_no_threshold_and_dbscan_noise_is_unclustered():
    x, _ = _people(5)
    with pytest.raises(ValueError, match="must be None for method 'hdbscan'"):
        cluster_embeddings(x, method="hdbscan", threshold=1.0)
    far = np.eye(32, dtype=np.float32)[:1]  # a face far from everyone: DBSCAN noise with min_samples 2
    lab, _ = methods._library("dbscan", np.concatenate([x, far]), np.arange(len(x) + 1), 0.8, None, {"min_samples": 2}, 0)
    assert lab[-1] == -1 and (lab[:-1] >= 0).all()


def test_size_aware_graph_is_opt_in_and_its_single_limit_falls_with_the_collection():
    from facenet.cluster.methods import single_threshold

    x, who = _people(2, dim=128)
    default = methods.default_options("sface", "graph")
    if default.get("rule", "fixed") == "fixed":
        assert "single_threshold" not in cluster_embeddings(x).options  # the default: a fixed threshold
    else:  # the default: the size-aware limit capped at the fixed threshold
        r = cluster_embeddings(x)
        assert r.threshold == default["fixed"]["threshold"] and r.options["size_limit"] == default["size_limit"]
        assert r.options["single_threshold"] <= r.threshold
    sa = methods.default_options("sface", "graph")["size_aware"]  # the shipped opt-in calibration
    r = cluster_embeddings(x, **{k: sa[k] for k in ("threshold", "neighbors", "pair_fpir", "size_power")})
    assert r.options["pair_fpir"] == sa["pair_fpir"] and r.options["size_power"] == sa["size_power"]
    assert 0 < r.options["single_threshold"] <= r.threshold
    assert _same_partition(r.labels, who)
    small, large = single_threshold("sface", 100, 0.03, 4.0), single_threshold("sface", 100_000, 0.03, 4.0)
    assert 0 < large < small < 4
    assert single_threshold("sface", 100, 0.03, 0.5) == 0.5  # capped at the threshold
    given = cluster_embeddings(x, threshold=0.8)  # a given threshold: plain average linkage
    assert "single_threshold" not in given.options
    sized = cluster_embeddings(x, threshold=0.8, pair_fpir=0.03)
    assert sized.options["single_threshold"] == pytest.approx(single_threshold("sface", len(x), 0.03, 0.8), abs=1e-6)
    assert sized.options["size_power"] == 1.0
    with pytest.raises(UncalibratedError, match="impostor model"):
        cluster_embeddings(x, threshold=0.8, pair_fpir=0.03, model="nns2")
    with pytest.raises(ValueError, match="pair_fpir"):
        cluster_embeddings(x, threshold=0.8, pair_fpir=1.5)


def test_size_limit_over_the_threshold_is_capped_by_it_and_is_checked():
    from facenet.cluster import graph

    x, who = _people(2, dim=128)
    r = cluster_embeddings(x, threshold=0.8, pair_fpir=0.03, size_limit=1.4)
    assert r.options["size_limit"] == 1.4 and r.threshold == 0.8 and r.options["single_threshold"] <= 0.8
    assert _same_partition(r.labels, who)
    # the same as the partition called directly with T = 1.4 and the cap at the threshold
    n = len(x)
    i, j, d = graph.knn_edges(*graph.knn(x, r.options["neighbors"]))
    want = graph.average(n, i, j, d, 1.4, np.arange(n), x, single=r.options["single_threshold"], cap=0.8)
    assert _same_partition(r.labels, want)
    assert "size_limit" not in cluster_embeddings(x, threshold=0.8, size_limit=1.4).options  # no size term: plain
    tiny = cluster_embeddings(x, threshold=1e-6, pair_fpir=0.03, size_limit=1.4)  # every limit under ~0: no merge
    assert tiny.n_clusters == len(x)
    with pytest.raises(ValueError, match="size_limit"):
        cluster_embeddings(x, threshold=0.8, pair_fpir=0.03, size_limit=5.0)


def test_size_rule_detach_is_the_fixed_clusters_then_detach():
    from facenet.cluster import graph

    x, who = _people(3, dim=128, spread=0.2)
    r = cluster_embeddings(x, threshold=1.2, pair_fpir=0.03, size_power=0.5, size_limit=1.4, size_rule="detach")
    assert r.options["size_rule"] == "detach" and r.options["size_limit"] == 1.4
    plain = cluster_embeddings(x, threshold=1.2)
    want = graph.detach(plain.labels, x / np.linalg.norm(x, axis=1, keepdims=True), 1.4, r.options["single_threshold"], 0.5, 1.2)
    assert _same_partition(r.labels, want)
    assert "size_rule" not in cluster_embeddings(x, threshold=1.2, pair_fpir=0.03).options  # "merge": not recorded
    with pytest.raises(ValueError, match="size_rule"):
        cluster_embeddings(x, threshold=1.2, pair_fpir=0.03, size_rule="later")


def test_fused_models_get_sfaces_impostor_model_rescaled_as_the_gallery_does():
    from facenet.cluster.methods import impostor_model, single_threshold
    from facenet.gallery.impostor import ImpostorModel
    from facenet.models.registry import model_config

    sface = ImpostorModel.shipped("sface")
    assert impostor_model("sface").loc.tolist() == sface.loc.tolist()  # shipped: as it is
    for name in ("fused", "fused-casia"):
        c = model_config(name).verification_threshold(False) / model_config("sface").verification_threshold(False)
        m = impostor_model(name)  # the harmonic partner's model, location and scale times t(own) / t(sface)
        assert m.meta["rescaled"] == pytest.approx(c, abs=1e-4) and c < 1
        assert np.allclose(m.loc, sface.loc * c) and np.allclose(m.scale, sface.scale * c)
        want = min(4.0, sface.rescaled(c).threshold(999, 0.03))
        assert single_threshold(name, 1000, 0.03, 4.0) == pytest.approx(want, rel=1e-9)
        assert single_threshold(name, 1000, 0.03, 4.0) < single_threshold("sface", 1000, 0.03, 4.0)
        x, _ = _people(2, dim=128)  # the detach limit of a run with that model comes from it
        r = cluster_embeddings(x, threshold=0.8, pair_fpir=0.03, size_rule="detach", size_limit=1.2, model=name)
        assert r.options["single_threshold"] == pytest.approx(min(0.8, sface.rescaled(c).threshold(len(x) - 1, 0.03)), abs=1e-6)
    for name in ("fused+flip", "fused-casia+flip"):  # flip: SFace+flip's model, times the two flip thresholds' ratio
        c = model_config(name[:-5]).verification_threshold(True) / model_config("sface").verification_threshold(True)
        assert np.allclose(impostor_model(name).loc, ImpostorModel.shipped("sface+flip").loc * c)
    with pytest.raises(UncalibratedError, match="impostor model"):
        impostor_model("nns2")  # no impostor model of its own, no harmonic partner


def test_attach_limit_is_the_graph_result_then_graph_attach(monkeypatch):
    from facenet.cluster import graph, threshold

    x, _ = _people(np.random.default_rng(21), n_people=6, per=5, spread=1.3, dim=16)
    groups = np.arange(len(x)) // 2  # two faces a photo
    plain = cluster_embeddings(x, groups, threshold=0.9, neighbors=8)
    got = cluster_embeddings(x, groups, threshold=0.9, neighbors=8, attach_limit=1.2)
    nbr, _ = graph.knn(x, 8)
    assert _same_partition(got.labels, graph.attach(plain.labels, x, nbr, 1.2, groups))
    assert got.n_clusters < plain.n_clusters and got.options["attach_limit"] == 1.2
    assert not has_conflicts(got.labels, groups).any()
    off = cluster_embeddings(x, groups, threshold=0.9, neighbors=8, attach_limit=0.0)
    assert np.array_equal(off.labels, plain.labels) and "attach_limit" not in off.options
    with pytest.raises(ValueError, match="attach_limit"):
        cluster_embeddings(x, threshold=0.9, attach_limit=5.0)
    # no shipped entry carries the step (opt-in: it over-merged at 1M, bench/cluster_attach.py) ...
    assert all("attach_limit" not in threshold.default_options(m, "graph") for m in threshold.calibrated_models())
    assert "attach_limit" not in cluster_embeddings(x, groups).options
    # ... but a calibrated entry that has one is the default's last step; an explicit threshold does not take it
    shipped = threshold._table()
    table = {**shipped, "models": {**shipped["models"], "sface": {**shipped["models"]["sface"],
                                                                    "graph": {**shipped["models"]["sface"]["graph"], "attach_limit": 1.2}}}}
    monkeypatch.setattr(threshold, "_table", lambda: table)
    assert threshold.default_options("sface", "graph")["attach_limit"] == 1.2
    assert cluster_embeddings(x, groups).options["attach_limit"] == 1.2
    assert "attach_limit" not in cluster_embeddings(x, groups, threshold=0.9).options
