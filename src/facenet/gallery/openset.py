"""Open-set identification metrics.

Scores here are "lower is a better match" (a squared L2 distance, or a normalised distance):
a probe is **accepted** as its top-1 candidate when ``score < threshold`` (strict, as in
verification), else it is ``unknown``.

Metrics (ISO/IEC 19795-1, NIST FRVT 1:N wording):

* rank-k: the share of mated probes whose identity is among the top k candidates (closed set).
* TPIR(t): true positive identification rate: the share of mated probes (their identity is
  enrolled) whose top-1 candidate is their identity **and** whose score is below ``t``.
* FPIR(t): false positive identification rate: the share of non-mated probes (never enrolled)
  whose top-1 score is below ``t``.
* TPIR at FPIR f: the largest threshold whose FPIR is at most f, and the TPIR there.

The threshold that depends on the gallery's size is :mod:`facenet.gallery.impostor`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from facenet.validation import check_scalar

#: The FPIR targets reported by default.
FPIR_TARGETS = (1e-2, 1e-3)


def _scores(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, np.float64).reshape(-1)
    if a.size and not np.all(np.isfinite(a)):
        raise ValueError(f"The {name!r} parameter must hold finite scores. Got {int((~np.isfinite(a)).sum())} non-finite.")
    return a


def rank_k_rate(candidates: Any, truth: Any, k: int = 1) -> float:
    """Closed-set rank-k identification rate.

    candidates: (P, K) labels, best first (K >= k). truth: (P,) the probes' identities.
    Returns the share of probes whose identity is among their first k candidates (nan for P=0).
    """
    cand = np.asarray(candidates, dtype=object)
    truth = np.asarray(truth, dtype=object).reshape(-1)
    if cand.ndim != 2 or len(cand) != len(truth):
        raise ValueError(f"rank_k_rate needs candidates (P, K) and truth (P,). Got {cand.shape} and {truth.shape}.")
    k = check_scalar(k, "k", int, min_val=1, max_val=max(cand.shape[1], 1), owner="rank_k_rate")
    if len(truth) == 0:
        return float("nan")
    return float(np.mean((cand[:, :k] == truth[:, None]).any(1)))


def fpir_at(nonmated_scores: Any, threshold: float) -> float:
    """Share of non-mated probes accepted (top-1 score < threshold)."""
    s = _scores(nonmated_scores, "nonmated_scores")
    return float(np.mean(s < threshold)) if s.size else float("nan")


def tpir_at(mated_scores: Any, mated_hit: Any, threshold: float) -> float:
    """Share of mated probes whose top-1 is their identity (``mated_hit``) and score < threshold."""
    s = _scores(mated_scores, "mated_scores")
    hit = np.asarray(mated_hit, bool).reshape(-1)
    if hit.shape != s.shape:
        raise ValueError(f"mated_scores and mated_hit must have the same length. Got {s.shape} and {hit.shape}.")
    return float(np.mean(hit & (s < threshold))) if s.size else float("nan")


def threshold_at_fpir(nonmated_scores: Any, fpir: float) -> float:
    """The largest threshold whose FPIR (share of non-mated scores strictly below it) is at most
    ``fpir``: the (floor(fpir * Q) + 1)-th smallest non-mated score (+inf when that exceeds Q)."""
    fpir = check_scalar(fpir, "fpir", float, min_val=0.0, max_val=1.0, owner="threshold_at_fpir")
    s = np.sort(_scores(nonmated_scores, "nonmated_scores"))
    if s.size == 0:
        raise ValueError("threshold_at_fpir needs at least one non-mated score.")
    m = int(math.floor(fpir * s.size + 1e-9))
    return float(s[m]) if m < s.size else float("inf")


@dataclass(frozen=True)
class OperatingPoint:
    """One point of the DET curve: the threshold chosen for ``fpir_target`` and what it gives."""

    fpir_target: float
    threshold: float
    fpir: float
    tpir: float

    def to_dict(self) -> dict[str, float]:
        return {"fpir_target": self.fpir_target, "threshold": self.threshold, "fpir": self.fpir, "tpir": self.tpir}


def tpir_at_fpir(mated_scores: Any, mated_hit: Any, nonmated_scores: Any,
                 fpir: Sequence[float] = FPIR_TARGETS) -> list[OperatingPoint]:
    """TPIR at each FPIR target, with the threshold (from the non-mated scores) that achieves it.

    mated_scores: (P,) top-1 scores of mated probes. mated_hit: (P,) bool, top-1 is the probe's
    identity. nonmated_scores: (Q,) top-1 scores of non-mated probes.
    """
    out = []
    for f in fpir:
        t = threshold_at_fpir(nonmated_scores, f)
        out.append(OperatingPoint(float(f), t, fpir_at(nonmated_scores, t), tpir_at(mated_scores, mated_hit, t)))
    return out


@dataclass(frozen=True)
class DETCurve:
    """TPIR and FPIR at every distinct threshold. thresholds: (T,) increasing; fpir, tpir: (T,)."""

    thresholds: np.ndarray
    fpir: np.ndarray
    tpir: np.ndarray


def det_curve(mated_scores: Any, mated_hit: Any, nonmated_scores: Any) -> DETCurve:
    """The open-set DET curve over every distinct score (+ one above the largest, accepting all)."""
    ms, ns = _scores(mated_scores, "mated_scores"), _scores(nonmated_scores, "nonmated_scores")
    hit = np.asarray(mated_hit, bool).reshape(-1)
    if hit.shape != ms.shape:
        raise ValueError(f"mated_scores and mated_hit must have the same length. Got {ms.shape} and {hit.shape}.")
    allv = np.unique(np.concatenate([ms, ns]))
    top = np.nextafter(allv[-1], np.inf) if allv.size else 0.0
    t = np.concatenate([allv, [top]])
    ns_sorted, mh_sorted = np.sort(ns), np.sort(ms[hit])
    fpir = np.searchsorted(ns_sorted, t, side="left") / max(ns.size, 1)
    tpir = np.searchsorted(mh_sorted, t, side="left") / max(ms.size, 1)
    return DETCurve(t, fpir, tpir)


@dataclass(frozen=True)
class OpenSetReport:
    """Closed-set ranks and open-set operating points of one identification run."""

    n_mated: int
    n_nonmated: int
    rank: dict[int, float]
    points: list[OperatingPoint]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"n_mated": self.n_mated, "n_nonmated": self.n_nonmated,
                "rank": {str(k): v for k, v in self.rank.items()},
                "points": [p.to_dict() for p in self.points], **self.extra}


def open_set_report(mated_candidates: Any, mated_truth: Any, mated_scores: Any, nonmated_scores: Any,
                    fpir: Sequence[float] = FPIR_TARGETS, ranks: Sequence[int] = (1, 5)) -> OpenSetReport:
    """Rank-k (closed set) and TPIR at FPIR (open set) in one report.

    mated_candidates: (P, K) candidate labels of mated probes, best first. mated_truth: (P,).
    mated_scores: (P,) their top-1 scores. nonmated_scores: (Q,) top-1 scores of non-mated probes.
    """
    cand = np.asarray(mated_candidates, dtype=object)
    truth = np.asarray(mated_truth, dtype=object).reshape(-1)
    rank = {int(k): rank_k_rate(cand, truth, int(k)) for k in ranks if k <= cand.shape[1]}
    hit = cand[:, 0] == truth if len(truth) else np.zeros(0, bool)
    return OpenSetReport(len(truth), int(np.asarray(nonmated_scores).size), rank,
                         tpir_at_fpir(mated_scores, hit, nonmated_scores, fpir))


def check_unit(value: Any, name: str, owner: str) -> float:
    return check_scalar(value, name, float, min_val=0.0, max_val=1.0, include="neither", owner=owner)


def margin_scores(top_distances: np.ndarray, margin_weight: float, cohort: int) -> np.ndarray:
    """``d1 - margin_weight * mean(d2 .. d(cohort+1))`` of ascending per-subject distances
    (M, K); the mean is over the K - 1 there are (2.0, orthogonal, when there are none)."""
    td = np.asarray(top_distances, np.float64)
    others = td[:, 1 : cohort + 1]
    mean = others.mean(1) if others.shape[1] else np.full(len(td), 2.0)
    return td[:, 0] - margin_weight * mean
