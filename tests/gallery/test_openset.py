"""Open-set metrics against hand-computed values and brute force; the impostor model and the
size-dependent identification threshold against their formula on toy distributions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import norm

from facenet.gallery.impostor import SHIPPED_MODELS, ImpostorModel, fit_impostor_model, identification_threshold
from facenet.gallery.openset import (
    det_curve,
    fpir_at,
    margin_scores,
    neighbourhood_means,
    normalised_scores,
    open_set_report,
    rank_k_rate,
    rerank,
    threshold_at_fpir,
    tpir_at,
    tpir_at_fpir,
)
from facenet.models import model_config

# -------------------------------------------------------------------- metrics


def test_hand_computed_tiny_case():
    # mated: scores and whether top-1 is right; non-mated: top-1 scores
    ms = [0.2, 0.5, 0.9, 0.3]
    hit = [True, True, True, False]
    ns = [0.4, 0.8, 1.0, 1.2, 1.5]
    assert fpir_at(ns, 0.8) == pytest.approx(1 / 5)  # only 0.4 < 0.8 (strict)
    assert fpir_at(ns, 0.81) == pytest.approx(2 / 5)
    assert tpir_at(ms, hit, 0.8) == pytest.approx(2 / 4)  # 0.2, 0.5 (0.3 is a wrong top-1)
    assert tpir_at(ms, hit, 1.0) == pytest.approx(3 / 4)
    # FPIR <= 0.2 of 5 probes: at most 1 accepted -> threshold = 2nd smallest = 0.8
    assert threshold_at_fpir(ns, 0.2) == 0.8
    assert threshold_at_fpir(ns, 0.0) == 0.4  # accept nobody
    assert threshold_at_fpir(ns, 1.0) == float("inf")
    (p,) = tpir_at_fpir(ms, hit, ns, fpir=[0.2])
    assert (p.threshold, p.fpir, p.tpir) == (0.8, pytest.approx(0.2), pytest.approx(0.5))


def test_rank_k_hand_computed():
    cand = np.array([["a", "b", "c"], ["b", "a", "c"], ["c", "b", "a"], ["d", "e", "f"]], dtype=object)
    truth = ["a", "a", "a", "z"]
    assert rank_k_rate(cand, truth, 1) == pytest.approx(1 / 4)
    assert rank_k_rate(cand, truth, 2) == pytest.approx(2 / 4)
    assert rank_k_rate(cand, truth, 3) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="'k' parameter of rank_k_rate must be an int in \\[1, 3\\]"):
        rank_k_rate(cand, truth, 4)


@pytest.mark.parametrize("seed", range(5))
def test_threshold_and_tpir_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    ns = np.round(rng.uniform(0, 2, rng.integers(1, 40)), 1)  # rounded: ties on purpose
    ms = np.round(rng.uniform(0, 2, 30), 1)
    hit = rng.random(30) < 0.8
    candidates = np.unique(np.concatenate([ns, ms, [10.0]]))
    for f in (0.0, 0.01, 0.1, 0.25, 0.5, 0.99, 1.0):
        # brute force: the largest candidate threshold (any real number is equivalent to a
        # candidate value or +inf for the strict rule) with FPIR <= f
        ok = [t for t in list(candidates) + [np.inf] if np.mean(ns < t) <= f + 1e-12]
        best = max(ok)
        t = threshold_at_fpir(ns, f)
        assert np.mean(ns < t) <= f + 1e-12
        assert np.mean(ns < t) == np.mean(ns < best)
        (p,) = tpir_at_fpir(ms, hit, ns, [f])
        assert p.tpir == pytest.approx(np.mean([h and s < t for s, h in zip(ms, hit)]))


def test_det_curve_matches_pointwise():
    rng = np.random.default_rng(1)
    ms, ns = rng.normal(0.8, 0.2, 50), rng.normal(1.4, 0.2, 70)
    hit = rng.random(50) < 0.9
    c = det_curve(ms, hit, ns)
    assert np.all(np.diff(c.thresholds) > 0) and np.all(np.diff(c.fpir) >= 0) and np.all(np.diff(c.tpir) >= 0)
    for i in range(0, len(c.thresholds), 7):
        t = c.thresholds[i]
        assert c.fpir[i] == pytest.approx(fpir_at(ns, t)) and c.tpir[i] == pytest.approx(tpir_at(ms, hit, t))
    assert c.fpir[-1] == 1.0 and c.tpir[-1] == pytest.approx(hit.mean())


def test_open_set_report():
    cand = np.array([["a", "b"], ["b", "a"], ["a", "b"]], dtype=object)
    r = open_set_report(cand, ["a", "a", "b"], [0.1, 0.2, 0.3], [0.15, 0.9], fpir=[0.5], ranks=(1, 2))
    assert r.rank == {1: pytest.approx(1 / 3), 2: 1.0}
    assert r.points[0].threshold == 0.9 and r.points[0].tpir == pytest.approx(1 / 3)  # only "a" at 0.1 is a hit
    d = r.to_dict()
    assert d["n_mated"] == 3 and d["n_nonmated"] == 2 and d["rank"]["2"] == 1.0


def test_metric_messages():
    with pytest.raises(ValueError, match="finite"):
        fpir_at([0.1, np.nan], 1.0)
    with pytest.raises(ValueError, match="same length"):
        tpir_at([0.1, 0.2], [True], 1.0)
    with pytest.raises(ValueError, match="'fpir' parameter of threshold_at_fpir must be a float in \\[0, 1\\]"):
        threshold_at_fpir([0.1], 2.0)
    with pytest.raises(ValueError, match="at least one non-mated"):
        threshold_at_fpir([], 0.1)


# -------------------------------------------------------------------- the impostor model


def gaussian_model(loc=(0.0,), scale=(1.0,)) -> ImpostorModel:
    z = np.linspace(-9, 9, 1801)
    return ImpostorModel("toy", z, norm.logcdf(z) / np.log(10), np.array(loc), np.array(scale))


def test_fpir_formula_on_a_toy_distribution():
    m = gaussian_model(loc=(1.8,), scale=(0.2,))  # one probe: FPIR = 1 - (1 - FAR)^N
    for t in (1.0, 1.3, 1.6):
        far = norm.cdf((t - 1.8) / 0.2)
        assert m.far(t) == pytest.approx(far, rel=1e-3)
        for n in (1, 10, 1000):
            assert m.fpir(t, n) == pytest.approx(1 - (1 - far) ** n, rel=1e-3)
            assert m.fpir(t, n, faces_per_subject=3) == pytest.approx(1 - (1 - far) ** (3 * n), rel=1e-3)
    # the threshold solves it: FAR(t) = 1 - (1 - f)^(1/N)
    for n in (1, 100, 10**5):
        for f in (1e-2, 1e-3):
            want = 1.8 + 0.2 * norm.ppf(1 - (1 - f) ** (1 / n))
            assert identification_threshold(n, f, m) == pytest.approx(want, abs=1e-4)


def test_per_probe_mixture_is_the_mean_over_probes():
    m = gaussian_model(loc=(1.6, 1.9), scale=(0.2, 0.1))
    t, n = 1.2, 50
    each = [1 - (1 - norm.cdf((t - mu) / s)) ** n for mu, s in ((1.6, 0.2), (1.9, 0.1))]
    assert m.fpir(t, n) == pytest.approx(np.mean(each), rel=1e-3)


def test_threshold_decreases_with_gallery_size():
    m = ImpostorModel.shipped("sface")
    ts = [identification_threshold(n, 1e-2, m) for n in (1, 2, 10, 100, 1000, 10**4, 10**6)]
    assert all(a > b for a, b in zip(ts, ts[1:]))
    assert identification_threshold(100, 1e-3, m) < identification_threshold(100, 1e-2, m)
    assert m.fpir(identification_threshold(500, 1e-2, m), 500) == pytest.approx(1e-2, rel=1e-2)


def test_shipped_models_load_and_are_small():
    for name, fname in SHIPPED_MODELS.items():
        m = ImpostorModel.shipped(name)
        embedder = name.split("+")[0]
        assert m.meta["embedder"] == embedder and m.meta["flip"] == name.endswith("+flip")
        assert "bench/identify_lfw.py calibrate" in m.meta["command"]
        assert len(json.dumps(m.to_dict())) < 40_000
        # the verification threshold (LFW View 1) matches a stranger almost always in a big gallery
        t = model_config(embedder).threshold
        assert m.fpir(t, 1680) > 0.5 > m.fpir(t, 1)
        if embedder != "sface":  # fitted for one head: its weights are recorded
            assert m.meta["weights_sha256"] == model_config(embedder).weights.sha256


def test_fit_recovers_a_known_distribution():
    rng = np.random.default_rng(0)
    loc = rng.uniform(1.7, 1.9, 200)
    d = loc[:, None] + 0.15 * rng.standard_normal((200, 2000))
    m = fit_impostor_model(d, "toy", tail_from=1e-3)
    truth = gaussian_model(loc=loc, scale=np.full(200, 0.15))
    for n in (1, 30):
        assert m.threshold(n, 1e-2) == pytest.approx(truth.threshold(n, 1e-2), abs=0.01)
    pooled = fit_impostor_model(d, "toy", kind="pooled")
    assert pooled.loc.shape == (1,) and pooled.far(1.5) == pytest.approx(np.mean(d < 1.5), abs=2e-3)
    assert fit_impostor_model(d, "toy", max_probes=50).loc.shape == (50,)
    d[0, :] = np.nan  # a probe with no comparisons is left out
    assert fit_impostor_model(d, "toy").meta["n_probes"] == 199


def test_round_trip_and_messages(tmp_path):
    m = gaussian_model(loc=(1.8, 1.7), scale=(0.2, 0.2))
    m.save(tmp_path / "m.json")
    back = ImpostorModel.load(tmp_path / "m.json")
    assert back.threshold(10, 1e-2) == pytest.approx(m.threshold(10, 1e-2), abs=1e-4)
    with pytest.raises(ValueError, match="'n_subjects' parameter of identification_threshold must be an int in \\[1, inf\\)"):
        identification_threshold(0, 1e-2, m)
    with pytest.raises(ValueError, match="'fpir' parameter of identification_threshold must be a float in \\(0, 1\\)"):
        identification_threshold(10, 1.5, m)
    with pytest.raises(ValueError, match="'model' parameter of ImpostorModel.shipped must be one of"):
        identification_threshold(10, 1e-2, "arcface")
    with pytest.raises(ValueError, match="'model' parameter of identification_threshold must be an ImpostorModel"):
        identification_threshold(10, 1e-2, 3)
    with pytest.raises(ValueError, match="increasing z"):
        ImpostorModel("x", np.array([1.0, 0.0]), np.array([-1.0, 0.0]), np.zeros(1), np.ones(1))


def test_simulated_order_statistics():
    """The simulation's nearest stranger has the formula's distribution (margin weight 0 is d1)."""
    m = gaussian_model(loc=(1.8, 1.6), scale=(0.2, 0.15))
    for n in (1, 7, 500):
        d = m.simulate_nonmated(n, 4, draws=4000, seed=1)
        assert d.shape == (8000, min(4, n)) and np.all(np.diff(d, axis=1) >= 0)
        for f in (0.05, 0.01):
            sim = identification_threshold(n, f, m, scoring="margin", margin_weight=0.0, draws=4000)
            assert sim == pytest.approx(m.threshold(n, f), abs=0.01)
    # the second nearest of N draws: compare with brute-force sampling of N draws
    rng = np.random.default_rng(0)
    n = 20
    brute = np.sort(1.8 + 0.2 * rng.standard_normal((20000, n)), axis=1)[:, :3]
    one = gaussian_model(loc=(1.8,), scale=(0.2,)).simulate_nonmated(n, 3, draws=20000, seed=2)
    assert np.abs(np.median(one, 0) - np.median(brute, 0)).max() < 0.01


def test_margin_scores():
    td = np.array([[0.5, 1.5, 1.7, 1.9], [1.0, 1.1, 1.2, 1.3]])
    assert margin_scores(td, 0.5, 2) == pytest.approx([0.5 - 0.5 * 1.6, 1.0 - 0.5 * 1.15])
    assert margin_scores(td[:, :1], 0.5, 10) == pytest.approx([0.5 - 1.0, 0.0])  # no others: 2.0


# -------------------------------------------------------------------- enrolled-side normalisation


def unit_rows(rng, n, d=8):
    x = rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_neighbourhood_means_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    x, xs = unit_rows(rng, 9), rng.integers(0, 4, 9)  # several faces per subject
    co, cs = unit_rows(rng, 15), rng.integers(0, 6, 15)
    for cohort, subj, size in ((x, xs, 2), (co, cs, 3), (co, cs, 50), (x, xs, 1)):
        got = neighbourhood_means(x, xs, cohort, subj, size, block=4)
        for i in range(len(x)):
            per = {}
            for j in range(len(cohort)):
                if subj[j] != xs[i]:
                    d = float(np.sum((x[i].astype(np.float64) - cohort[j]) ** 2))
                    per[subj[j]] = min(per.get(subj[j], np.inf), d)
            near = sorted(per.values())[:size]
            want = np.mean(near) if near else 2.0
            assert got[i] == pytest.approx(want, abs=1e-5)
    # nobody else: orthogonal
    assert neighbourhood_means(x[:1], xs[:1], x[:1], xs[:1], 3)[0] == 2.0


@pytest.mark.parametrize("seed", range(4))
def test_normalised_scores_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    g, q = unit_rows(rng, 12), unit_rows(rng, 7)  # one face per subject
    crowd = rng.uniform(0.8, 1.6, len(g))
    centre, b, a, c = float(np.median(crowd)), 0.75, 0.5, 3
    d = np.sum((q[:, None, :].astype(np.float64) - g[None, :, :]) ** 2, axis=2)
    for k in (c + 1, 6, 12):  # K >= cohort + 1: exact for every kept column
        idx = np.argsort(d, axis=1, kind="stable")[:, :k]
        td = np.take_along_axis(d, idx, 1)
        got = normalised_scores(td, crowd[idx], centre, gallery_weight=b, margin_weight=a, cohort=c)
        for p in range(len(q)):
            for col, j in enumerate(idx[p]):
                others = sorted(d[p, m] for m in range(len(g)) if m != j)[:c]
                want = d[p, j] - b * (crowd[j] - centre) - a * np.mean(others)
                assert got[p, col] == pytest.approx(want, abs=1e-9)
        cand, s = rerank(idx, got)
        assert np.all(np.diff(s, axis=1) >= 0)
        assert np.array_equal(cand[:, 0], idx[np.arange(len(q)), got.argmin(1)])
        assert np.allclose(np.take_along_axis(got, np.argsort(got, 1, kind="stable"), 1), s)


def test_normalised_scores_reduce_to_the_margin_and_messages():
    rng = np.random.default_rng(5)
    td = np.sort(rng.uniform(0.5, 2.0, (6, 11)), axis=1)
    crowd = rng.uniform(0.8, 1.6, td.shape)
    plain = normalised_scores(td, crowd, 1.2, gallery_weight=0.0, margin_weight=0.75, cohort=10)
    assert np.allclose(plain[:, 0], margin_scores(td, 0.75, 10))
    one = normalised_scores(td[:, :1], crowd[:, :1], 1.2, gallery_weight=1.0, margin_weight=0.5, cohort=10)
    assert np.allclose(one[:, 0], td[:, 0] - (crowd[:, 0] - 1.2) - 0.5 * 2.0)  # nobody else: 2.0
    # a crowded face (crowding below the centre) gets a higher score than the same distance elsewhere
    s = normalised_scores(np.array([[1.0, 1.0]]), np.array([[0.9, 1.5]]), 1.2, gallery_weight=0.75, margin_weight=0.0)
    assert s[0, 0] > s[0, 1]
    with pytest.raises(ValueError, match="'gallery_weight' parameter of normalised_scores must be a float in \\[0, inf\\)"):
        normalised_scores(td, crowd, 1.2, gallery_weight=-1.0)
    with pytest.raises(ValueError, match="'margin_weight' parameter of normalised_scores must be a float in \\[0, 1\\]"):
        normalised_scores(td, crowd, 1.2, margin_weight=2.0)
    with pytest.raises(ValueError, match="one shape"):
        normalised_scores(td, crowd[:, :3], 1.2)
    with pytest.raises(ValueError, match="'size' parameter of neighbourhood_means must be an int in \\[1, inf\\)"):
        neighbourhood_means(td, np.arange(6), td, np.arange(6), 0)
    with pytest.raises(ValueError, match="rerank needs"):
        rerank(np.zeros((2, 3)), np.zeros((2, 2)))
