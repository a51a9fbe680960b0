"""Verification metrics against plain brute-force reference implementations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facenet.eval import (
    KFoldResult,
    auc,
    best_threshold,
    eer,
    kfold_evaluate,
    roc_curve,
    threshold_at_far,
    val_far,
)


def _synthetic(seed: int, n: int = 400, ties: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.5
    d = np.where(same, rng.normal(0.8, 0.35, n), rng.normal(1.4, 0.35, n)).clip(0, 4)
    if ties:
        d = np.round(d, 1)  # many exact ties, including across classes
    return d, same


def _brute_accuracy(d: np.ndarray, s: np.ndarray, t: float) -> float:
    return float(np.mean((d < t) == s))  # plain definition, one threshold at a time


def _brute_best(d: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    u = sorted(set(d.tolist()))
    cands = [u[0] - 1.0] + [(a + b) / 2 for a, b in zip(u[:-1], u[1:])] + [u[-1] + 1.0]
    best_acc, best_t = -1.0, None
    for t in cands:
        acc = _brute_accuracy(d, s, t)
        if acc > best_acc:
            best_acc, best_t = acc, t
    return best_t, best_acc


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ties", [True, False])
def test_best_threshold_matches_brute_force(seed: int, ties: bool) -> None:
    d, s = _synthetic(seed, ties=ties)
    t = best_threshold(d, s)
    bt, bacc = _brute_best(d, s)
    assert _brute_accuracy(d, s, t) == pytest.approx(bacc)
    if bt > d.min() and bt < d.max():  # interior: same midpoint, smallest among ties
        assert t == pytest.approx(bt)
    # no threshold at all (not only candidates) does better
    grid = np.linspace(d.min() - 0.1, d.max() + 0.1, 2001)
    assert max(_brute_accuracy(d, s, g) for g in grid[::20]) <= bacc + 1e-12


def test_best_threshold_tie_break_is_smallest() -> None:
    # thresholds 1.5 and 3.5 both give 3/4 correct; the smaller one wins
    d = np.array([1.0, 2.0, 3.0, 4.0])
    s = np.array([True, False, True, False])
    assert best_threshold(d, s) == pytest.approx(1.5)
    assert best_threshold(d, s, thresholds=np.array([3.5, 1.5, 2.5])) == pytest.approx(1.5)


def test_best_threshold_with_given_grid_matches_brute_force() -> None:
    d, s = _synthetic(3)
    grid = np.arange(0, 4, 0.01)
    accs = [_brute_accuracy(d, s, t) for t in grid]
    assert best_threshold(d, s, grid) == pytest.approx(grid[int(np.argmax(accs))])


def test_val_far_hand_computed() -> None:
    d = np.array([0.2, 0.5, 0.9, 1.3, 0.4, 1.0, 1.6, 2.0])
    s = np.array([True, True, True, True, False, False, False, False])
    val, far = val_far(d, s, 1.0)  # accepted: 0.2 0.5 0.9 (same), 0.4 (diff); 1.0 is not < 1.0
    assert val == pytest.approx(3 / 4)
    assert far == pytest.approx(1 / 4)
    assert val_far(d, s, 0.0) == (0.0, 0.0)
    assert val_far(d, s, 5.0) == (1.0, 1.0)


def test_perfect_separation() -> None:
    rng = np.random.default_rng(0)
    same = np.repeat([True, False], 300)
    d = np.where(same, rng.uniform(0.0, 0.9, 600), rng.uniform(1.1, 4.0, 600))
    folds = np.tile(np.repeat(np.arange(10), 30), 2)
    res = kfold_evaluate(d, same, folds)
    assert res.accuracy_mean == 1.0
    assert res.accuracy_std == 0.0
    assert res.auc == pytest.approx(1.0)
    assert res.eer == pytest.approx(0.0)
    fpr, tpr, _ = roc_curve(d, same)
    assert auc(fpr, tpr) == pytest.approx(1.0)
    assert eer(fpr, tpr) == pytest.approx(0.0)


def test_random_scores_auc_half() -> None:
    rng = np.random.default_rng(1)
    d = rng.random(20000)
    s = rng.random(20000) < 0.5
    fpr, tpr, _ = roc_curve(d, s)
    assert auc(fpr, tpr) == pytest.approx(0.5, abs=0.02)
    assert eer(fpr, tpr) == pytest.approx(0.5, abs=0.02)


def test_roc_is_monotone_and_complete() -> None:
    d, s = _synthetic(5)
    fpr, tpr, thr = roc_curve(d, s)
    assert fpr.shape == tpr.shape == thr.shape == (np.unique(d).size + 1,)
    assert np.all(np.diff(thr) > 0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    for i in (0, 7, len(thr) // 2, len(thr) - 1):
        assert (tpr[i], fpr[i]) == pytest.approx(val_far(d, s, thr[i]))
    # auc of a reversed curve is the same
    assert auc(fpr[::-1], tpr[::-1]) == pytest.approx(auc(fpr, tpr))


def test_eer_interpolates() -> None:
    # ROC polyline (0,0) -> (0.2,0.6) -> (0.6,0.9) -> (1,1): crossing fpr = 1 - tpr on segment 2:
    # fpr = 0.2 + 0.4a, tpr = 0.6 + 0.3a, fpr + tpr = 1 -> a = 2/7
    fpr = np.array([0.0, 0.2, 0.6, 1.0])
    tpr = np.array([0.0, 0.6, 0.9, 1.0])
    assert eer(fpr, tpr) == pytest.approx(0.2 + 0.4 * 2 / 7)


def test_threshold_at_far_large_set() -> None:
    rng = np.random.default_rng(2)
    n = 100_000
    s = rng.random(n) < 0.5
    d = np.where(s, rng.normal(0.7, 0.3, n), rng.normal(1.5, 0.3, n))
    n_diff = int((~s).sum())
    for target in (1e-4, 1e-3, 1e-2, 0.1):
        t = threshold_at_far(d, s, target)
        _, far = val_far(d, s, t)
        assert far <= target + 1.0 / n_diff + 1e-12
        assert far >= target - 1.0 / n_diff - 1e-12
    assert threshold_at_far(d, s, 0.0) <= d[~s].min()
    assert val_far(d, s, threshold_at_far(d, s, 1.0))[1] == 1.0


def test_threshold_at_far_exact_levels() -> None:
    d = np.array([0.1, 0.2, 1.0, 2.0, 3.0, 4.0])
    s = np.array([True, True, False, False, False, False])
    # FAR = 0.25 is reached exactly: threshold at the largest candidate with FAR 0.25
    t = threshold_at_far(d, s, 0.25)
    assert val_far(d, s, t)[1] == 0.25
    assert t == pytest.approx(1.5)


def _brute_kfold(d, s, folds, far_target):
    accs, vals, fars = [], [], []
    for k in sorted(set(folds.tolist())):
        train = folds != k
        test = folds == k
        t, _ = _brute_best(d[train], s[train])
        # smallest-threshold tie break: brute force returns the first best candidate
        accs.append(_brute_accuracy(d[test], s[test], t))
        tv = threshold_at_far(d[train], s[train], far_target)
        ta = sum(1 for di, si in zip(d[test], s[test]) if si and di < tv)
        fa = sum(1 for di, si in zip(d[test], s[test]) if not si and di < tv)
        vals.append(ta / s[test].sum())
        fars.append(fa / (~s[test]).sum())
    return np.array(accs), np.array(vals), np.array(fars)


@pytest.mark.parametrize("seed", range(4))
def test_kfold_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_folds, per = 10, 30
    same = np.tile(np.repeat([True, False], per), n_folds)
    folds = np.repeat(np.arange(n_folds), 2 * per)
    d = np.round(np.where(same, rng.normal(0.9, 0.4, same.size), rng.normal(1.5, 0.4, same.size)), 2)
    res = kfold_evaluate(d, same, folds, far_target=1e-2)
    accs, vals, fars = _brute_kfold(d, same, folds, 1e-2)
    np.testing.assert_allclose(res.accuracies, accs)
    assert res.accuracy_mean == pytest.approx(accs.mean())
    assert res.accuracy_std == pytest.approx(accs.std(ddof=0))
    np.testing.assert_allclose(res.vals, vals)
    np.testing.assert_allclose(res.fars, fars)
    assert res.val_mean == pytest.approx(vals.mean())
    assert res.val_std == pytest.approx(vals.std())
    assert res.far_mean == pytest.approx(fars.mean())
    fpr, tpr, _ = roc_curve(d, same)
    assert res.auc == pytest.approx(auc(fpr, tpr))
    assert res.eer == pytest.approx(eer(fpr, tpr))
    assert 0.5 < res.auc < 1.0 and 0.0 < res.eer < 0.5


def test_kfold_fold_ids_need_not_be_contiguous_or_sorted() -> None:
    d, s = _synthetic(7, n=300)
    folds = np.arange(300) % 3
    a = kfold_evaluate(d, s, folds)
    b = kfold_evaluate(d, s, np.choose(folds, [7, 2, 5]))
    # fold ids sorted: 2 (was 1), 5 (was 2), 7 (was 0)
    np.testing.assert_allclose(b.accuracies, a.accuracies[[1, 2, 0]])


def test_kfold_result_to_dict_is_json_ready() -> None:
    d, s = _synthetic(4)
    res = kfold_evaluate(d, s, np.arange(d.size) % 5)
    assert isinstance(res, KFoldResult) and res.n_folds == 5
    out = res.to_dict()
    text = json.dumps(out)
    assert json.loads(text)["accuracies"] == out["accuracies"]
    assert all(type(v) in (float, int, list) for v in out.values())


def test_input_validation() -> None:
    with pytest.raises(ValueError):
        best_threshold(np.array([0.1, 0.2]), np.array([True]))
    with pytest.raises(ValueError):
        best_threshold(np.array([np.nan, 0.2]), np.array([True, False]))
    with pytest.raises(ValueError):
        kfold_evaluate(np.array([0.1, 0.2]), np.array([True, False]), np.array([0, 0]))
    with pytest.raises(ValueError):
        threshold_at_far(np.array([0.1, 0.2]), np.array([True, True]), 1e-3)


def test_plot_roc_writes_png(tmp_path) -> None:
    from facenet.eval import plot_roc

    d, s = _synthetic(0)
    fpr, tpr, _ = roc_curve(d, s)
    out = plot_roc({"model A": (fpr, tpr), "model B": (fpr ** 0.5, tpr)}, tmp_path / "sub" / "roc.png", "ROC")
    assert out == tmp_path / "sub" / "roc.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out2 = plot_roc({"A": (fpr, tpr)}, tmp_path / "roc_log.svg", "ROC (log)", log_fpr=True)
    assert out2.stat().st_size > 0
