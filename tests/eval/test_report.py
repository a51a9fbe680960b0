"""VerificationReport: one key set for any fold count, values against brute force on tiny inputs."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from facenet.eval import (
    VerificationReport,
    kfold_evaluate,
    report_from_distances,
    threshold_at_far,
)

KEYS = ["protocol", "n_pairs", "n_images", "n_folds", "accuracy_mean", "accuracy_std", "threshold_mean", "thresholds",
        "val_mean", "val_std", "far_target", "far_actual", "auc", "eer", "no_face", "seconds", "images_per_second",
        "detector", "embedder", "flip", "folds"]
FOLD_KEYS = ["fold", "n_pairs", "accuracy", "threshold", "val", "far", "val_threshold"]
META = {"n_images": 90, "no_face": 1, "seconds": 2.0, "detector": "yunet", "embedder": "sface", "flip": False}


def _pairs(seed: int, n: int = 120, n_folds: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic distances with ties; every fold holds same and different pairs."""
    rng = np.random.default_rng(seed)
    same = np.arange(n) % 2 == 0
    d = np.round(np.where(same, rng.normal(0.9, 0.35, n), rng.normal(1.4, 0.35, n)).clip(0, 4), 2)
    folds = (np.arange(n) // 2) % n_folds
    return d, same, folds


def _brute_best_accuracy_threshold(d: np.ndarray, s: np.ndarray) -> float:
    """Plain loop over every midpoint (and both ends): best accuracy, smallest threshold on ties."""
    u = sorted(set(d.tolist()))
    cands = [u[0] - 1.0] + [(a + b) / 2 for a, b in zip(u[:-1], u[1:])] + [u[-1] + 1.0]
    best, best_t = -1, None
    for t in cands:
        correct = sum(int((di < t) == si) for di, si in zip(d, s))
        if correct > best:
            best, best_t = correct, t
    return best_t


def _brute_rates(d: np.ndarray, s: np.ndarray, t: float) -> tuple[float, float, float]:
    """(accuracy, VAL, FAR) at t, one pair at a time."""
    right = ta = fa = 0
    for di, si in zip(d.tolist(), s.tolist()):
        accept = di < t
        right += accept == si
        ta += accept and si
        fa += accept and not si
    return right / len(d), ta / int(s.sum()), fa / int((~s).sum())


def _brute_auc(d: np.ndarray, s: np.ndarray) -> float:
    """P(a same pair is closer than a different pair), ties counted half (= the trapezoidal ROC AUC)."""
    win = 0.0
    for x in d[s]:
        for y in d[~s]:
            win += 1.0 if x < y else 0.5 if x == y else 0.0
    return win / (s.sum() * (~s).sum())


def _plain(obj) -> bool:
    """Only Python JSON types all the way down (no numpy scalars, no NaN)."""
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_plain(v) for v in obj)
    if isinstance(obj, float):
        return math.isfinite(obj)
    return obj is None or type(obj) in (int, bool, str)


@pytest.mark.parametrize("calibrated", [1.1, None])
def test_keys_identical_for_one_and_ten_folds(calibrated) -> None:
    d, s, f = _pairs(0)
    ten = report_from_distances(d, s, f, calibrated_threshold=calibrated, **META).to_dict()
    one = report_from_distances(d, s, np.zeros_like(f), calibrated_threshold=calibrated, **META).to_dict()
    bare = report_from_distances(d, s, np.zeros_like(f)).to_dict()  # no metadata at all
    assert list(ten) == list(one) == list(bare) == KEYS
    assert all(list(row) == FOLD_KEYS for r in (ten, one, bare) for row in r["folds"])
    assert ten["n_folds"] == len(ten["folds"]) == len(ten["thresholds"]) == 10
    assert one["n_folds"] == len(one["folds"]) == len(one["thresholds"]) == 1
    assert set(VerificationReport.__dataclass_fields__) == set(KEYS)


def test_to_dict_is_plain_json() -> None:
    d, s, f = _pairs(1)
    meta = {**META, "n_images": np.int64(90), "no_face": np.int64(0), "seconds": np.float64(1.5)}
    for folds, cal in ((f, 1.1), (np.zeros_like(f), 1.1), (np.zeros_like(f), None)):
        out = report_from_distances(d.astype(np.float32), s, folds, calibrated_threshold=cal, **meta).to_dict()
        assert _plain(out), out
        assert json.loads(json.dumps(out, allow_nan=False)) == out


@pytest.mark.parametrize("seed", range(3))
def test_ten_folds_against_brute_force(seed: int) -> None:
    d, s, f = _pairs(seed)
    far = 0.1
    r = report_from_distances(d, s, f, far_target=far, calibrated_threshold=1.1, **META)
    assert r.protocol.startswith("10-fold") and r.n_pairs == d.size and r.n_folds == 10
    for k, row in enumerate(r.folds):
        test, train = f == k, f != k
        assert row.fold == k and row.n_pairs == int(test.sum())
        t = _brute_best_accuracy_threshold(d[train], s[train])
        assert row.threshold == pytest.approx(t)
        assert row.accuracy == pytest.approx(_brute_rates(d[test], s[test], t)[0])
        # the VAL threshold is chosen on the training folds, never on the test fold
        assert row.val_threshold == pytest.approx(threshold_at_far(d[train], s[train], far))
        _, val, fa = _brute_rates(d[test], s[test], row.val_threshold)
        assert (row.val, row.far) == (pytest.approx(val), pytest.approx(fa))
    accs = [row.accuracy for row in r.folds]
    assert r.accuracy_mean == pytest.approx(sum(accs) / 10)
    assert r.accuracy_std == pytest.approx(math.sqrt(sum((a - r.accuracy_mean) ** 2 for a in accs) / 10))  # ddof=0
    assert r.val_mean == pytest.approx(np.mean([row.val for row in r.folds]))
    assert r.val_std == pytest.approx(np.std([row.val for row in r.folds]))
    assert r.far_actual == pytest.approx(np.mean([row.far for row in r.folds]))
    assert r.thresholds == tuple(row.threshold for row in r.folds)
    assert r.threshold_mean == pytest.approx(np.mean(r.thresholds))
    assert r.auc == pytest.approx(_brute_auc(d, s))
    k = kfold_evaluate(d, s, f, far_target=far)  # the same numbers as the protocol function
    assert r.accuracy_mean == k.accuracy_mean and r.eer == k.eer


def test_one_fold_calibrated_threshold_against_brute_force() -> None:
    d, s, _ = _pairs(4, n=40)
    far = 0.1
    r = report_from_distances(d, s, np.full(d.size, 3), far_target=far, calibrated_threshold=1.15, **META)
    assert r.protocol.startswith("calibrated threshold") and "1.15" in r.protocol and "themselves" in r.protocol
    acc, _, _ = _brute_rates(d, s, 1.15)
    assert r.accuracy_mean == pytest.approx(acc) and r.accuracy_std is None
    assert r.thresholds == (1.15,) and r.threshold_mean == 1.15
    (row,) = r.folds
    assert (row.fold, row.n_pairs, row.accuracy, row.threshold) == (3, 40, r.accuracy_mean, 1.15)
    # VAL@FAR: threshold chosen on these very pairs
    assert row.val_threshold == pytest.approx(threshold_at_far(d, s, far))
    _, val, fa = _brute_rates(d, s, row.val_threshold)
    assert (r.val_mean, r.far_actual) == (pytest.approx(val), pytest.approx(fa))
    assert r.val_std is None
    assert r.auc == pytest.approx(_brute_auc(d, s))


def test_one_fold_without_calibrated_threshold_reports_no_accuracy() -> None:
    d, s, _ = _pairs(5, n=40)
    r = report_from_distances(d, s, np.zeros(d.size, int))
    assert r.protocol.startswith("one fold, no calibrated threshold")
    assert r.accuracy_mean is None and r.accuracy_std is None and r.threshold_mean is None
    assert r.thresholds == (None,) and r.folds[0].accuracy is None
    assert r.val_mean is not None and r.auc is not None  # threshold-free or self-chosen: still reported


def test_calibrated_threshold_is_ignored_with_several_folds() -> None:
    d, s, f = _pairs(6)
    a = report_from_distances(d, s, f, calibrated_threshold=0.5)
    b = report_from_distances(d, s, f, calibrated_threshold=None)
    assert a == b


def test_one_class_only_gives_none_not_nan() -> None:
    d = np.array([0.3, 0.5, 0.9, 1.2])
    r = report_from_distances(d, np.ones(4, bool), np.zeros(4, int), calibrated_threshold=1.0)
    assert r.accuracy_mean == 0.75
    assert r.auc is None and r.eer is None and r.val_mean is None and r.far_actual is None
    assert "not reported" in r.protocol
    assert _plain(r.to_dict())


def test_speed_and_metadata() -> None:
    d, s, f = _pairs(7)
    r = report_from_distances(d, s, f, **META)
    assert r.images_per_second == pytest.approx(45.0)
    assert (r.n_images, r.no_face, r.seconds, r.detector, r.embedder, r.flip) == (90, 1, 2.0, "yunet", "sface", False)
    assert report_from_distances(d, s, f, n_images=5, seconds=0.0).images_per_second is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.accuracy_mean = 1.0  # type: ignore[misc]


def test_fold_ids_need_not_be_contiguous() -> None:
    d, s, f = _pairs(8, n_folds=3)
    r = report_from_distances(d, s, np.choose(f, [2, 5, 9]))
    assert [row.fold for row in r.folds] == [2, 5, 9]
    assert sum(row.n_pairs for row in r.folds) == r.n_pairs


@pytest.mark.parametrize("kwargs, message", [
    ({"far_target": 1.5}, "The 'far_target' parameter of report_from_distances must be a float in [0, 1]. Got 1.5"),
    ({"calibrated_threshold": -1.0}, "The 'calibrated_threshold' parameter of report_from_distances must be a float"),
    ({"n_images": -3}, "The 'n_images' parameter of report_from_distances must be an int in [0, inf)"),
    ({"seconds": float("nan")}, "The 'seconds' parameter"),
])
def test_bad_parameters(kwargs, message) -> None:
    d, s, f = _pairs(9)
    with pytest.raises(ValueError) as exc:
        report_from_distances(d, s, f, **kwargs)
    assert str(exc.value).startswith(message)


def test_folds_must_match_distances() -> None:
    d, s, f = _pairs(9)
    with pytest.raises(ValueError, match="folds must be"):
        report_from_distances(d, s, f[:-1])
