"""Threshold calibration: the calibrator against a brute-force sweep, the folder pair builder,
View 1 pairs, and calibrate() end to end with a stand-in pipeline (no model needed)."""

from __future__ import annotations

import json
from collections import Counter
from itertools import combinations
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import facenet.eval.calibrate as calmod
from facenet.errors import DataError
from facenet.eval.calibrate import (
    NotFittedError,
    ThresholdCalibrator,
    calibrate,
    folder_pairs,
    view1_pairs,
)


def _data(seed: int, n: int = 60, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.4
    same[:2] = [True, False]  # both classes present
    d = np.where(same, rng.normal(0.9, 0.3, n), rng.normal(1.4, 0.3, n)).clip(0, 4)
    return (np.round(d, 1) if ties else d), same


def _candidates(d: np.ndarray) -> list[float]:
    u = sorted(set(d.tolist()))
    return [u[0] - 1.0] + [(a + b) / 2 for a, b in zip(u[:-1], u[1:])] + [u[-1] + 1.0]


def _rates(d: np.ndarray, s: np.ndarray, t: float) -> tuple[float, float, float]:
    """(accuracy, FAR, TAR) at t, one pair at a time."""
    acc = sum((di < t) == si for di, si in zip(d, s)) / len(d)
    far = sum(di < t for di, si in zip(d, s) if not si) / sum(~s)
    tar = sum(di < t for di, si in zip(d, s) if si) / sum(s)
    return acc, far, tar


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_accuracy_target_matches_brute_force(seed: int, ties: bool) -> None:
    d, s = _data(seed, ties=ties)
    best_t, best_acc = None, -1.0
    for t in _candidates(d):  # first best = smallest threshold, as documented
        acc = _rates(d, s, t)[0]
        if acc > best_acc:
            best_t, best_acc = t, acc
    c = ThresholdCalibrator().fit(d, s)
    assert c.target_ == "accuracy"
    assert c.accuracy_ == pytest.approx(best_acc)
    np.testing.assert_array_equal(c.predict(d), d < best_t)  # the same decisions on every pair
    acc, far, tar = _rates(d, s, c.threshold_)
    assert (c.accuracy_, c.far_, c.tar_) == pytest.approx((acc, far, tar))
    assert (c.n_pairs_, c.n_same_, c.n_diff_) == (d.size, int(s.sum()), int((~s).sum()))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("far", [0.0, 0.02, 0.1, 0.3, 0.999])
def test_far_target_matches_brute_force(seed: int, far: float) -> None:
    d, s = _data(seed, ties=seed % 2 == 0)
    within = [(t, *_rates(d, s, t)) for t in _candidates(d) if _rates(d, s, t)[1] <= far]
    best_tar = max(r[3] for r in within)  # loosest threshold within the bound
    c = ThresholdCalibrator(far=far).fit(d, s)
    assert c.target_ == "far"
    assert c.far_ <= far
    assert c.tar_ == pytest.approx(best_tar)
    t_brute = max(t for t, _, _, tar in within if tar == best_tar)
    np.testing.assert_array_equal(c.predict(d), d < t_brute)


def test_far_target_counts_exactly_at_the_bound() -> None:
    d = np.array([0.1, 0.2, 0.3, 0.4, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9])
    s = np.array([True] * 4 + [False] * 10)
    c = ThresholdCalibrator(target="far", far=0.1).fit(d, s)  # one false accept out of 10 allowed
    assert c.far_ == pytest.approx(0.1) and c.tar_ == 1.0 and 1.0 < c.threshold_ < 1.1
    c0 = ThresholdCalibrator(far=0.0).fit(d, s)
    assert c0.far_ == 0.0 and 0.4 < c0.threshold_ < 1.0


def test_ties_are_never_split() -> None:
    d = np.array([0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 2.0])
    s = np.array([True, True, True, False, False, True, False])
    c = ThresholdCalibrator().fit(d, s)
    p = c.predict(d)
    assert len(set(p[d == 0.5])) == 1 and len(set(p[d == 1.0])) == 1
    assert c.accuracy_ == pytest.approx(max(_rates(d, s, t)[0] for t in _candidates(d)))
    assert c.accuracy_ == pytest.approx(5 / 7)


@pytest.mark.parametrize("same", [np.ones(5, bool), np.zeros(5, bool)])
def test_one_class_is_refused(same: np.ndarray) -> None:
    with pytest.raises(DataError, match="both same-person and different-person pairs"):
        ThresholdCalibrator().fit(np.linspace(0.2, 1.8, 5), same)


def test_bad_pair_arrays() -> None:
    with pytest.raises(ValueError, match="equal length"):
        ThresholdCalibrator().fit(np.ones(3), np.array([True, False]))
    with pytest.raises(DataError, match="NaN"):
        ThresholdCalibrator().fit(np.array([0.1, np.nan]), np.array([True, False]))


def test_predict_and_score() -> None:
    d, s = _data(3)
    c = ThresholdCalibrator().fit(d, s)
    assert c.score(d, s) == pytest.approx(c.accuracy_)
    q = np.array([0.0, c.threshold_ - 1e-9, c.threshold_, 4.0])
    np.testing.assert_array_equal(c.predict(q), [True, True, False, False])
    assert c.score(q, [True, True, False, False]) == 1.0
    with pytest.raises(ValueError, match=r"\(P,\) array"):
        c.predict(np.zeros((2, 2)))


def test_unfitted_use_raises_a_clear_error() -> None:
    c = ThresholdCalibrator(far=1e-3)
    for call in (lambda: c.predict([0.5]), lambda: c.score([0.5], [True])):
        with pytest.raises(NotFittedError, match="not fitted yet. Call 'fit'"):
            call()
    assert issubclass(NotFittedError, ValueError)
    assert c.to_dict() == {"target": "accuracy", "far_target": 1e-3, "fitted": False}


@pytest.mark.parametrize("kwargs, message", [
    ({"target": "best"}, "The 'target' parameter of ThresholdCalibrator must be one of 'accuracy', 'far'. "
                         "Got 'best' instead."),
    ({"far": 1.0}, r"The 'far' parameter of ThresholdCalibrator must be a float in \[0, 1\) or None. Got 1.0 instead."),
    ({"far": -0.1}, r"The 'far' parameter of ThresholdCalibrator must be a float in \[0, 1\) or None. Got -0.1"),
    ({"far": "1e-3"}, "The 'far' parameter of ThresholdCalibrator must be a float"),
    ({"target": "far"}, r"The 'far' parameter of ThresholdCalibrator must be a float in \[0, 1\) when "
                        "target='far'. Got None instead."),
])
def test_parameters_are_checked_in_fit(kwargs: dict, message: str) -> None:
    c = ThresholdCalibrator(**kwargs)  # __init__ only stores
    assert c.get_params() == {"target": "accuracy", "far": None, **kwargs}
    with pytest.raises(ValueError, match=message):
        c.fit(np.array([0.2, 1.5]), np.array([True, False]))


def test_to_dict_is_json_ready() -> None:
    d, s = _data(1)
    out = json.loads(json.dumps(ThresholdCalibrator(far=0.05).fit(d, s).to_dict()))
    assert out["fitted"] and out["target"] == "far" and out["far_target"] == 0.05 and out["far"] <= 0.05
    assert out["n_pairs"] == 60 and set(out) >= {"threshold", "accuracy", "tar", "n_same", "n_diff"}
    assert repr(ThresholdCalibrator(far=0.05)) == "ThresholdCalibrator(target='accuracy', far=0.05)"


# -- folder_pairs -----------------------------------------------------------------------------
def _folder(root: Path, sizes: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for name, n in sizes.items():
        (root / name).mkdir(parents=True)
        for j in range(n):
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(root / name / f"{j}.png")
    return root


def _check_pairs(p) -> tuple[set, set]:
    same = {(a, b) for a, b, s in zip(p.paths_a, p.paths_b, p.same) if s}
    diff = {(a, b) for a, b, s in zip(p.paths_a, p.paths_b, p.same) if not s}
    assert len(same) + len(diff) == len(p)  # no repeated pair
    assert all(a.parent == b.parent and a != b for a, b in same)
    assert all(a.parent != b.parent for a, b in diff)
    assert (p.folds == 0).all() and list(p.same) == sorted(p.same, reverse=True)  # same pairs first
    return same, diff


def test_folder_pairs_every_same_pair_and_as_many_different(tmp_path: Path) -> None:
    root = _folder(tmp_path / "faces", {"ann": 3, "bob": 2, "cy": 1, "empty": 0})
    (root / "ann" / "notes.txt").write_text("not an image")
    (root / "bob" / ".hidden.png").write_bytes(b"")
    (root / "loose.png").write_bytes(b"")  # not in an identity folder
    p = folder_pairs(root)
    same, diff = _check_pairs(p)
    expected_same = {(root / n / f"{i}.png", root / n / f"{j}.png") for n, k in (("ann", 3), ("bob", 2))
                     for i, j in combinations(range(k), 2)}
    assert same == expected_same and len(diff) == 4
    assert folder_pairs(root).paths_b == p.paths_b  # seeded: the same pairs again
    seeds = {tuple(folder_pairs(root, seed=k).paths_b) for k in range(6)}
    assert len(seeds) > 1  # the different pairs are a sample of the 11 possible
    small = folder_pairs(root, max_pairs=5)
    assert int(small.same.sum()) == 2 and len(small) == 4


def test_folder_pairs_stay_balanced_with_few_different_pairs(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"a": 5, "b": 1})  # 10 same pairs possible, only 5 different ones
    same, diff = _check_pairs(folder_pairs(root))
    assert len(same) == len(diff) == 5


def test_folder_pairs_sampled_without_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calmod, "_ENUMERATE_UP_TO", 0)  # force the drawing path
    root = _folder(tmp_path, {"a": 4, "b": 1, "c": 1})  # 6 same and 9 different pairs possible
    p = folder_pairs(root, max_pairs=6, seed=3)
    same, diff = _check_pairs(p)
    assert len(same) == len(diff) == 3
    counts: Counter = Counter()
    for seed in range(300):
        _, diff = _check_pairs(folder_pairs(root, max_pairs=2, seed=seed))
        counts.update(diff)
    assert len(counts) == 9 and min(counts.values()) > 300 / 9 / 2  # every different pair, about evenly


def test_folder_pairs_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        folder_pairs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="found 0 identities with 0 images"):
        folder_pairs(tmp_path / "empty")
    with pytest.raises(DataError, match="found 1 identities with 3 images"):
        folder_pairs(_folder(tmp_path / "one", {"solo": 3}))
    with pytest.raises(DataError, match="two or more images"):
        folder_pairs(_folder(tmp_path / "singles", {"a": 1, "b": 1}))
    with pytest.raises(ValueError, match=r"The 'max_pairs' parameter of folder_pairs must be an int in \[2, inf\)"):
        folder_pairs(tmp_path / "one", max_pairs=1)
    with pytest.raises(ValueError, match="The 'seed' parameter of folder_pairs"):
        folder_pairs(tmp_path / "one", seed=-1)


def test_view1_pairs(lfw_dir: Path) -> None:
    p = view1_pairs(lfw_dir)
    assert len(p) == 3200 and (np.bincount(p.folds) == [2200, 1000]).all()
    assert p.same[:1100].all() and not p.same[1100:2200].any() and p.same[2200:2700].all()


def test_view1_pairs_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="pairsDevTrain.txt"):
        view1_pairs(tmp_path)


# -- calibrate() with a stand-in pipeline -----------------------------------------------------
class _Embedded(SimpleNamespace):
    def __init__(self, embeddings: np.ndarray, face_found: np.ndarray) -> None:
        super().__init__(embeddings=embeddings, face_found=face_found)

    def __len__(self) -> int:
        return len(self.embeddings)


class _StubPipeline:
    """Embeds a path as its identity's direction plus seeded noise; images named 'x*' have no face."""

    def __init__(self, noise: float = 0.35) -> None:
        self.detector = SimpleNamespace(name="stub-detector")
        self.embedder = SimpleNamespace(config=SimpleNamespace(embedding_size=8, name="stub-embedder"))
        self.flip, self.threshold, self.noise, self.calls = False, 1.1, noise, 0

    def represent(self, images: list) -> "_Embedded":
        self.calls += len(images)
        out = []
        for p in images:
            who = np.random.default_rng(sum(map(ord, Path(p).parent.name))).normal(size=8)
            v = who / np.linalg.norm(who) + self.noise * np.random.default_rng(sum(map(ord, str(p)))).normal(size=8)
            out.append(v / np.linalg.norm(v))
        return _Embedded(np.asarray(out, np.float32), np.array([not Path(p).name.startswith("x") for p in images]))


def _stub_pairs(tmp_path: Path):
    root = tmp_path / "people"
    for k in range(6):
        (root / f"p{k}").mkdir(parents=True)
        for j in range(4):
            (root / f"p{k}" / (f"x{j}.png" if k == 0 and j == 0 else f"{j}.png")).write_bytes(b"")
    return folder_pairs(root)


def test_calibrate_embeds_each_image_once_and_fits(tmp_path: Path) -> None:
    pairs = _stub_pairs(tmp_path)
    pipe = _StubPipeline()
    cal = ThresholdCalibrator()
    res = calibrate(pipe, pairs, cal, progress=False, source="stub")
    assert pipe.calls == res.n_images == 24 and res.no_face == 1
    assert res.calibrator is cal and res.threshold == cal.threshold_
    assert cal.accuracy_ == pytest.approx(ThresholdCalibrator().fit(res.distances, res.same).accuracy_)
    assert res.heldout == []  # one fold: no held-out check
    out = json.loads(json.dumps(res.to_dict()))
    assert out["source"] == "stub" and out["detector"] == "stub-detector" and out["embedder"] == "stub-embedder"
    assert out["flip"] is False and out["current_threshold"] == 1.1 and out["n_pairs"] == len(pairs)


def test_calibrate_reports_each_half_at_the_other_halfs_threshold(tmp_path: Path) -> None:
    pairs = _stub_pairs(tmp_path)
    halves = np.arange(len(pairs)) % 2
    pairs = type(pairs)(pairs.paths_a, pairs.paths_b, pairs.same, halves)
    res = calibrate(_StubPipeline(0.6), pairs, ThresholdCalibrator(far=0.1), progress=False, fold_names=("dev", "test"))
    assert [h["half"] for h in res.heldout] == ["dev", "test"]
    assert [h["fitted_on"] for h in res.heldout] == ["test", "dev"]
    d, s = res.distances, res.same
    for k, h in enumerate(res.heldout):
        other = ThresholdCalibrator(far=0.1).fit(d[halves != k], s[halves != k])
        acc, far, tar = _rates(d[halves == k], s[halves == k], other.threshold_)
        assert h["threshold"] == other.threshold_ and h["n_pairs"] == int((halves == k).sum())
        assert (h["accuracy"], h["far"], h["tar"]) == pytest.approx((acc, far, tar))


def test_calibrate_checks_parameters_before_embedding(tmp_path: Path) -> None:
    pipe = _StubPipeline()
    with pytest.raises(ValueError, match="'target' parameter"):
        calibrate(pipe, _stub_pairs(tmp_path), ThresholdCalibrator(target="eer"), progress=False)
    assert pipe.calls == 0
