"""Face verification metrics computed from pair distances (no image code here).

Convention throughout: ``distances`` is a (P,) float array of squared L2 distances between the
two embeddings of each pair (smaller = more similar), ``same`` a (P,) bool array (True: both
images show the same person). A pair is predicted "same" when ``distance < threshold``.

Following FaceNet (Schroff et al. 2015, Eq. 5-6), for a threshold ``t``:
``VAL(t) = |TA(t)| / |P_same|`` (true accepts over same pairs) and
``FAR(t) = |FA(t)| / |P_diff|`` (false accepts over different pairs). On LFW the accuracy is
reported by 10-fold cross-validation: each fold's threshold is chosen on the other nine
(:func:`kfold_evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from facenet.errors import DataError


def _check(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same)
    if d.ndim != 1 or s.shape != d.shape:
        raise ValueError(f"distances and same must be (P,) arrays of equal length; got {d.shape} and {s.shape}.")
    if s.dtype != bool:
        if not np.isin(s, (0, 1)).all():
            raise ValueError("same must be boolean (or 0/1).")
        s = s.astype(bool)
    if d.size == 0:
        raise ValueError("No pairs given.")
    if not np.isfinite(d).all():
        raise DataError(f"{int((~np.isfinite(d)).sum())} of {d.size} distances are NaN or infinite.")
    return d, s


@dataclass(frozen=True)
class _Sweep:
    """Every distinct decision on a set of pairs: candidate thresholds (C,) ascending, and for
    each the number of same / different pairs predicted "same" (distance < threshold)."""

    thresholds: np.ndarray
    true_accepts: np.ndarray
    false_accepts: np.ndarray
    n_same: int
    n_diff: int


def _sweep(d: np.ndarray, s: np.ndarray) -> _Sweep:
    """Candidate thresholds = the midpoints between consecutive sorted unique distances, plus one
    end below the smallest and one above the largest, each half the mean gap away (0.5 when all
    distances are equal). Vectorised: one sort (np.unique) and two cumulative sums."""
    u, inv = np.unique(d, return_inverse=True)
    same_per = np.bincount(inv, weights=s, minlength=u.size)
    diff_per = np.bincount(inv, weights=~s, minlength=u.size)
    half = 0.5 * (u[-1] - u[0]) / (u.size - 1) if u.size > 1 else 0.5
    thresholds = np.concatenate(([u[0] - half], 0.5 * (u[:-1] + u[1:]), [u[-1] + half]))
    ta = np.concatenate(([0.0], np.cumsum(same_per))).round().astype(np.int64)
    fa = np.concatenate(([0.0], np.cumsum(diff_per))).round().astype(np.int64)
    return _Sweep(thresholds, ta, fa, int(s.sum()), int((~s).sum()))


def best_threshold(distances: np.ndarray, same: np.ndarray, thresholds: Optional[np.ndarray] = None) -> float:
    """The threshold that maximises accuracy on these pairs.

    Args:
        distances: (P,) squared L2 distances.
        same: (P,) bool labels.
        thresholds: optional (T,) candidates to choose from. By default every distinct decision
            is considered: the midpoints between consecutive sorted unique distances, plus one
            threshold below the smallest distance (all "different") and one above the largest
            (all "same"), each half the mean gap between unique distances away.

    Returns:
        The best threshold. Ties are broken deterministically: the smallest threshold among
        those reaching the best accuracy.
    """
    d, s = _check(distances, same)
    if thresholds is None:
        sw = _sweep(d, s)
        correct = sw.true_accepts + (sw.n_diff - sw.false_accepts)
        return float(sw.thresholds[int(np.argmax(correct))])  # argmax: first = smallest
    t = np.sort(np.asarray(thresholds, dtype=np.float64).ravel())
    if t.size == 0:
        raise ValueError("thresholds is empty.")
    ta = np.searchsorted(np.sort(d[s]), t, side="left")  # same pairs with d < t
    fa = np.searchsorted(np.sort(d[~s]), t, side="left")  # different pairs with d < t
    correct = ta + (int((~s).sum()) - fa)
    return float(t[int(np.argmax(correct))])


def accuracy(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Fraction of the (P,) pairs classified correctly by ``distance < threshold``."""
    d, s = _check(distances, same)
    return float(np.mean((d < threshold) == s))


def val_far(distances: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float]:
    """Validation rate and false accept rate at ``threshold`` (FaceNet Eq. 5-6).

    Returns ``(VAL, FAR)`` with VAL = TA / n_same and FAR = FA / n_diff, where TA (FA) counts same
    (different) pairs with ``distance < threshold``. A rate whose denominator is 0 is NaN.
    """
    d, s = _check(distances, same)
    accept = d < threshold
    n_same, n_diff = int(s.sum()), int((~s).sum())
    val = float((accept & s).sum() / n_same) if n_same else float("nan")
    far = float((accept & ~s).sum() / n_diff) if n_diff else float("nan")
    return val, far


def threshold_at_far(distances: np.ndarray, same: np.ndarray, target_far: float) -> float:
    """The threshold at which the false accept rate on these pairs is ``target_far``, interpolated.

    As in davidsandberg/facenet ``calculate_val`` (FAR computed on a threshold grid, then the
    threshold linearly interpolated at the target FAR), but on the exact grid of candidate
    thresholds of :func:`best_threshold` instead of a fixed ``arange(0, 4, 0.001)``: FAR(t) is a
    step function; with ``f_j <= target < f_{j+1}`` the two neighbouring candidate thresholds are
    the largest one whose FAR is ``f_j`` and the next, and the result interpolates linearly between
    them. On the pairs it was chosen on, the FAR at the returned threshold is therefore at most
    ``target`` or one step (``1 / n_diff``) above it. Because the grid spans every distance, a
    ``target_far >= 1`` simply returns the largest candidate (all pairs accepted); there is no
    fallback to 0.0 as in the original code, whose grid could miss distances above 4.

    Args:
        distances: (P,) squared L2 distances; must contain at least one different pair.
        same: (P,) bool labels.
        target_far: target FAR in [0, 1].
    """
    d, s = _check(distances, same)
    if not 0.0 <= target_far:
        raise ValueError(f"target_far must be >= 0, got {target_far}.")
    sw = _sweep(d, s)
    if sw.n_diff == 0:
        raise ValueError("threshold_at_far needs at least one different-person pair.")
    far = sw.false_accepts / sw.n_diff  # non-decreasing, far[0] = 0, far[-1] = 1
    j = int(np.searchsorted(far, target_far, side="right")) - 1  # last candidate with far <= target
    if j >= far.size - 1:
        return float(sw.thresholds[-1])
    f0, f1 = far[j], far[j + 1]
    t0, t1 = sw.thresholds[j], sw.thresholds[j + 1]
    return float(t0 + (target_far - f0) / (f1 - f0) * (t1 - t0))


def roc_curve(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC over every distinct threshold.

    Returns ``(fpr, tpr, thresholds)``, three (C,) arrays ordered by increasing threshold (so
    fpr and tpr are non-decreasing, from (0, 0) to (1, 1)); at ``thresholds[i]`` the FAR is
    ``fpr[i]`` and the VAL ``tpr[i]``. ``C`` is the number of unique distances + 1. A rate whose
    class is absent is all zeros.
    """
    d, s = _check(distances, same)
    sw = _sweep(d, s)
    tpr = sw.true_accepts / sw.n_same if sw.n_same else np.zeros(sw.thresholds.size)
    fpr = sw.false_accepts / sw.n_diff if sw.n_diff else np.zeros(sw.thresholds.size)
    return fpr.astype(np.float64), tpr.astype(np.float64), sw.thresholds


def _roc_points(fpr: np.ndarray, tpr: np.ndarray, caller: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated ROC points sorted by (FPR, TPR)."""
    x = np.asarray(fpr, dtype=np.float64)
    y = np.asarray(tpr, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ValueError(f"{caller} needs two (C,) arrays with C >= 2; got {x.shape} and {y.shape}.")
    order = np.lexsort((y, x))
    return x[order], y[order]


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under the ROC curve by the trapezoidal rule. fpr, tpr: (C,) in either order."""
    x, y = _roc_points(fpr, tpr, "auc")
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) * 0.5))


def eer(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Equal error rate: the FPR where FPR = 1 - TPR (false rejects), linearly interpolated along
    the ROC polyline (as davidsandberg/facenet's ``brentq`` on ``interp1d(fpr, tpr)``).
    fpr, tpr: (C,) ROC points in either order."""
    x, y = _roc_points(fpr, tpr, "eer")
    g = x + y - 1.0  # FPR - FNR, non-decreasing along a ROC
    i = int(np.argmax(g >= 0.0)) if (g >= 0.0).any() else g.size - 1
    if i == 0 or g[i] == 0.0 or g[i] == g[i - 1]:
        return float(x[i])
    a = -g[i - 1] / (g[i] - g[i - 1])
    return float(x[i - 1] + a * (x[i] - x[i - 1]))


@dataclass(frozen=True)
class KFoldResult:
    """Cross-validated verification results (see :func:`kfold_evaluate`).

    Per-fold arrays have shape (n_folds,). ``accuracy_std`` and ``val_std`` use ``np.std`` with
    ddof=0 (population standard deviation), as the LFW literature and davidsandberg/facenet do.
    ``auc`` and ``eer`` come from the ROC on all pairs at once (no cross-validation).
    """

    accuracies: np.ndarray
    thresholds: np.ndarray
    vals: np.ndarray
    fars: np.ndarray
    val_thresholds: np.ndarray
    accuracy_mean: float
    accuracy_std: float
    val_mean: float
    val_std: float
    far_mean: float
    far_target: float
    auc: float
    eer: float

    @property
    def n_folds(self) -> int:
        return int(self.accuracies.size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: Python floats and lists of floats."""
        out: dict[str, Any] = {"n_folds": self.n_folds}
        for name in ("accuracy_mean", "accuracy_std", "val_mean", "val_std", "far_mean", "far_target", "auc", "eer"):
            out[name] = float(getattr(self, name))
        for name in ("accuracies", "thresholds", "vals", "fars", "val_thresholds"):
            out[name] = [float(v) for v in getattr(self, name)]
        return out


def kfold_evaluate(distances: np.ndarray, same: np.ndarray, folds: np.ndarray, far_target: float = 1e-3) -> KFoldResult:
    """K-fold cross-validated accuracy and VAL@FAR (the LFW View 2 protocol).

    For each fold k (in increasing order of the fold ids in ``folds``): the accuracy threshold is
    :func:`best_threshold` on the pairs of all other folds, and the fold's accuracy is measured
    with it on fold k; the VAL threshold is :func:`threshold_at_far` at ``far_target`` on the
    other folds, and VAL and FAR are measured with it on fold k.

    Args:
        distances: (P,) squared L2 distances.
        same: (P,) bool labels.
        folds: (P,) int fold index of each pair (at least two distinct values).
        far_target: the FAR at which VAL is reported (FaceNet: 1e-3).
    """
    d, s = _check(distances, same)
    f = np.asarray(folds)
    if f.shape != d.shape:
        raise ValueError(f"folds must be (P,) like distances; got {f.shape} and {d.shape}.")
    ids = np.unique(f)
    if ids.size < 2:
        raise ValueError("kfold_evaluate needs at least two folds (a View 1 file has a single fold).")
    n = ids.size
    accs, thrs, vals, fars, vthrs = (np.empty(n) for _ in range(5))
    for k, fid in enumerate(ids):
        test = f == fid
        train = ~test
        thrs[k] = best_threshold(d[train], s[train])
        accs[k] = np.mean((d[test] < thrs[k]) == s[test])
        vthrs[k] = threshold_at_far(d[train], s[train], far_target)
        vals[k], fars[k] = val_far(d[test], s[test], vthrs[k])
    fpr, tpr, _ = roc_curve(d, s)
    return KFoldResult(
        accuracies=accs, thresholds=thrs, vals=vals, fars=fars, val_thresholds=vthrs,
        accuracy_mean=float(np.mean(accs)), accuracy_std=float(np.std(accs)),
        val_mean=float(np.mean(vals)), val_std=float(np.std(vals)), far_mean=float(np.mean(fars)),
        far_target=float(far_target), auc=auc(fpr, tpr), eer=eer(fpr, tpr),
    )
