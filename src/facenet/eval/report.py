"""One typed verification result, whatever the number of folds: :class:`VerificationReport`.

:func:`report_from_distances` is the single rule that turns pair distances into a report; both
:func:`facenet.eval.benchmark.evaluate_pairs` and ``bench/vs_dlib.py`` call it.

* Two folds or more: the LFW protocol (:func:`facenet.eval.protocol.kfold_evaluate`): each fold's
  accuracy threshold and VAL@FAR threshold are chosen on the other folds.
* One fold (e.g. ``facenet evaluate lfw --folds 0``, or a View 1 file): there are no other folds to
  choose a threshold on. Accuracy is measured at the ``calibrated_threshold`` fixed beforehand
  (the pipeline's, calibrated on LFW View 1), and is not reported (None) when there is none.
  VAL@FAR is still reported, at the threshold that gives ``far_target`` on these pairs themselves
  (an optimistic figure: the threshold saw the test pairs). ``protocol`` says which rule was used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from facenet.eval.protocol import (
    _check,
    auc,
    eer,
    kfold_evaluate,
    roc_curve,
    threshold_at_far,
    val_far,
)
from facenet.validation import check_scalar

_OWNER = "report_from_distances"


def _opt(x: Any) -> float | None:
    """float(x), or None for None / NaN (a rate whose class is absent)."""
    if x is None:
        return None
    v = float(x)
    return None if math.isnan(v) else v


def _mean(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(np.mean(values))


@dataclass(frozen=True)
class FoldRow:
    """One fold of a :class:`VerificationReport`.

    fold: the fold id (as in the pairs' ``folds`` array). n_pairs: pairs in this fold.
    accuracy: fraction of this fold's pairs right at ``threshold`` (None: no threshold).
    threshold: the accuracy threshold (chosen on the other folds, or the calibrated one).
    val, far: VAL and FAR on this fold at ``val_threshold`` (None where a class is absent).
    val_threshold: the threshold giving the target FAR (on the other folds, or on this fold alone).
    """

    fold: int
    n_pairs: int
    accuracy: float | None
    threshold: float | None
    val: float | None
    far: float | None
    val_threshold: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"fold": self.fold, "n_pairs": self.n_pairs, "accuracy": self.accuracy, "threshold": self.threshold,
                "val": self.val, "far": self.far, "val_threshold": self.val_threshold}


@dataclass(frozen=True)
class VerificationReport:
    """A verification benchmark result. Rates are fractions in [0, 1]; thresholds squared L2
    (or whatever distance the caller scored with); None where a value does not apply.

    protocol: what was done, in words: ``"10-fold: ..."`` (thresholds chosen on the other folds)
        or ``"calibrated threshold: ..."`` / ``"one fold, no calibrated threshold: ..."``.
    n_pairs, n_images, n_folds: pairs scored, distinct images embedded, distinct fold ids.
    accuracy_mean, accuracy_std: over folds (std: ``np.std``, ddof=0; None with one fold).
        With one fold, the accuracy at the calibrated threshold (None without one).
    threshold_mean, thresholds: the accuracy thresholds, mean and (n_folds,) per fold.
    val_mean, val_std: VAL at ``far_target`` over folds (std None with one fold).
    far_target: the FAR asked for; far_actual: the mean FAR measured at the VAL thresholds.
    auc, eer: from the ROC of all pairs at once (None when one class is absent).
    folds: (n_folds,) :class:`FoldRow`, in increasing fold id.
    no_face: images where no face was found and the fallback centre crop was embedded.
    seconds, images_per_second: wall time of embedding every distinct image (decode, detect,
        align, embed), and n_images / seconds.
    detector, embedder, flip: the pipeline that produced the distances.
    """

    protocol: str
    n_pairs: int
    n_images: int | None
    n_folds: int
    accuracy_mean: float | None
    accuracy_std: float | None
    threshold_mean: float | None
    thresholds: tuple[float | None, ...]
    val_mean: float | None
    val_std: float | None
    far_target: float
    far_actual: float | None
    auc: float | None
    eer: float | None
    folds: tuple[FoldRow, ...]
    no_face: int | None
    seconds: float | None
    images_per_second: float | None
    detector: str | None
    embedder: str | None
    flip: bool | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (Python scalars, lists, None; never NaN). The keys are the same for
        any number of folds, in this order::

            protocol, n_pairs, n_images, n_folds, accuracy_mean, accuracy_std, threshold_mean,
            thresholds, val_mean, val_std, far_target, far_actual, auc, eer, no_face, seconds,
            images_per_second, detector, embedder, flip,
            folds: [{fold, n_pairs, accuracy, threshold, val, far, val_threshold}, ...]
        """
        out: dict[str, Any] = {}
        for name in ("protocol", "n_pairs", "n_images", "n_folds", "accuracy_mean", "accuracy_std", "threshold_mean"):
            out[name] = getattr(self, name)
        out["thresholds"] = list(self.thresholds)
        for name in ("val_mean", "val_std", "far_target", "far_actual", "auc", "eer", "no_face", "seconds",
                     "images_per_second", "detector", "embedder", "flip"):
            out[name] = getattr(self, name)
        out["folds"] = [row.to_dict() for row in self.folds]
        return out


def report_from_distances(distances: np.ndarray, same: np.ndarray, folds: np.ndarray, *, far_target: float = 1e-3,
                          calibrated_threshold: float | None = None, n_images: int | None = None,
                          no_face: int | None = None, seconds: float | None = None,
                          detector: str | None = None, embedder: str | None = None,
                          flip: bool | None = None) -> VerificationReport:
    """Score pair distances into a :class:`VerificationReport` (the module docstring gives the rule).

    Args:
        distances: (P,) pair distances (smaller = more alike; "same" when ``distance < threshold``).
        same: (P,) bool labels. folds: (P,) int fold id of each pair.
        far_target: the FAR at which VAL is reported, in [0, 1].
        calibrated_threshold: a threshold fixed beforehand (not on these pairs); used only with
            one fold, for the accuracy. None: accuracy is not reported for one fold.
        n_images, no_face, seconds, detector, embedder, flip: copied into the report
            (``images_per_second = n_images / seconds``).
    """
    far_target = check_scalar(far_target, "far_target", float, min_val=0.0, max_val=1.0, owner=_OWNER)
    calibrated_threshold = check_scalar(calibrated_threshold, "calibrated_threshold", float, min_val=0.0,
                                        owner=_OWNER, allow_none=True)
    n_images = check_scalar(n_images, "n_images", int, min_val=0, owner=_OWNER, allow_none=True)
    no_face = check_scalar(no_face, "no_face", int, min_val=0, owner=_OWNER, allow_none=True)
    seconds = check_scalar(seconds, "seconds", float, min_val=0.0, owner=_OWNER, allow_none=True)
    d, s = _check(distances, same)
    f = np.asarray(folds)
    if f.shape != d.shape:
        raise ValueError(f"folds must be (P,) like distances; got {f.shape} and {d.shape}.")
    ids = np.unique(f)
    sizes = [int((f == i).sum()) for i in ids]
    n_same, n_diff = int(s.sum()), int((~s).sum())
    if n_same and n_diff:
        fpr, tpr, _ = roc_curve(d, s)
        area, equal = auc(fpr, tpr), eer(fpr, tpr)
    else:
        area = equal = None

    if ids.size >= 2:
        k = kfold_evaluate(d, s, f, far_target=far_target)
        rows = tuple(FoldRow(int(i), n, float(a), float(t), _opt(v), _opt(r), float(vt))
                     for i, n, a, t, v, r, vt in zip(ids, sizes, k.accuracies, k.thresholds, k.vals, k.fars,
                                                     k.val_thresholds))
        others = "the other fold" if ids.size == 2 else f"the other {ids.size - 1} folds"
        protocol = (f"{ids.size}-fold: each fold's accuracy threshold (best accuracy) and VAL threshold "
                    f"(FAR={far_target:g}) chosen on {others}")
        acc_mean, acc_std = k.accuracy_mean, k.accuracy_std
        vals = [r.val for r in rows]
        val_mean = _mean(vals)
        val_std = float(np.std(vals)) if val_mean is not None else None
        far_actual = _mean([r.far for r in rows])
    else:
        acc = None if calibrated_threshold is None else float(np.mean((d < calibrated_threshold) == s))
        vt = val = far = None
        if n_diff:
            vt = threshold_at_far(d, s, far_target)
            val, far = (_opt(x) for x in val_far(d, s, vt))
        rows = (FoldRow(int(ids[0]), sizes[0], acc, calibrated_threshold, val, far, vt),)
        vnote = (f"VAL@FAR={far_target:g} at the threshold giving that FAR on these pairs themselves (optimistic)"
                 if n_diff else "VAL@FAR not reported (no different-person pairs)")
        if calibrated_threshold is None:
            protocol = f"one fold, no calibrated threshold: accuracy not reported; {vnote}"
        else:
            protocol = (f"calibrated threshold: one fold, accuracy at the threshold {calibrated_threshold:g} "
                        f"fixed beforehand (not chosen on these pairs); {vnote}")
        acc_mean, acc_std, val_mean, val_std, far_actual = acc, None, val, None, far
    thresholds = tuple(r.threshold for r in rows)
    ips = n_images / seconds if n_images is not None and seconds else None
    return VerificationReport(
        protocol=protocol, n_pairs=int(d.size), n_images=n_images, n_folds=int(ids.size),
        accuracy_mean=_opt(acc_mean), accuracy_std=_opt(acc_std), threshold_mean=_mean(list(thresholds)),
        thresholds=thresholds, val_mean=val_mean, val_std=val_std, far_target=far_target, far_actual=far_actual,
        auc=area, eer=equal, folds=rows, no_face=no_face, seconds=seconds, images_per_second=ips,
        detector=detector, embedder=embedder, flip=None if flip is None else bool(flip),
    )
