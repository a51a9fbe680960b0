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


# ---------------------------------------------------------------- enrolled-side normalisation
# An enrolled face in a crowded part of the embedding space attracts strangers. Its crowding is
# the mean distance to its nearest other people (a cohort: the gallery itself, or people never
# enrolled); a crowded face's scores are raised by ``gallery_weight`` times how much more
# crowded it is than the median face. Developed on CelebA-wild: bench/identify_norm.py.


def neighbourhood_means(embeddings: Any, subjects: Any, cohort: Any, cohort_subjects: Any, size: int,
                        block: int = 2048) -> np.ndarray:
    """Each face's crowding: the mean of its ``size`` smallest per-subject squared-L2 distances to
    the cohort's subjects other than its own (a subject's distance is its nearest face's).

    embeddings: (N, D) float32, unit norm; subjects: (N,) the person of each face. cohort: (M, D)
    float32, unit norm; cohort_subjects: (M,). With the gallery itself as the cohort, pass it as
    both. Fewer other subjects than ``size``: the mean over those there are; none: 2.0
    (orthogonal). Returns (N,) float64.
    """
    size = check_scalar(size, "size", int, min_val=1, owner="neighbourhood_means")
    block = check_scalar(block, "block", int, min_val=1, owner="neighbourhood_means")
    x, c = np.asarray(embeddings, np.float64), np.asarray(cohort, np.float64)
    xs, cs = np.asarray(subjects).reshape(-1), np.asarray(cohort_subjects).reshape(-1)
    if x.ndim != 2 or c.ndim != 2 or len(x) != len(xs) or len(c) != len(cs) or (len(c) and c.shape[1] != x.shape[1]):
        raise ValueError(f"neighbourhood_means needs embeddings (N, D) with N subjects and a cohort (M, D) with M subjects. "
                         f"Got {x.shape}, {xs.shape}, {c.shape} and {cs.shape}.")
    out = np.full(len(x), 2.0)
    if len(c) == 0 or len(x) == 0:
        return out
    order = np.argsort(cs, kind="stable")
    names, starts = np.unique(cs[order], return_index=True)
    c = c[order]
    for i in range(0, len(x), block):
        d = np.clip(2.0 - 2.0 * x[i : i + block] @ c.T, 0.0, 4.0)
        per = np.minimum.reduceat(d, starts, axis=1)
        per[xs[i : i + block, None] == names[None, :]] = np.inf
        k = min(size, len(names))
        near = np.sort(np.partition(per, k - 1, axis=1)[:, :k], axis=1)
        finite = np.isfinite(near)
        n = finite.sum(1)
        s = np.where(finite, near, 0.0).sum(1)
        out[i : i + block] = np.where(n > 0, s / np.maximum(n, 1), 2.0)
    return out


def normalised_scores(top_distances: Any, crowding: Any, centre: float, *, gallery_weight: float = 0.75,
                      margin_weight: float = 0.5, cohort: int = 10) -> np.ndarray:
    """Scores of every kept candidate, normalised on both sides:
    ``d - gallery_weight * (crowding - centre) - margin_weight * mean(the probe's cohort nearest other subjects)``.

    top_distances: (M, K) ascending per-subject squared L2 of each probe's K nearest subjects
    (K >= cohort + 1 makes the query-side mean exact); crowding: (M, K) each candidate's
    :func:`neighbourhood_means`; centre: the crowding of a typical enrolled face (the gallery's
    median), so that scores stay on the distance's scale. The mean is over the K - 1 other
    columns there are (2.0 when none). Column 0 with gallery_weight 0 is :func:`margin_scores`.
    Returns (M, K) float64; re-rank with :func:`rerank`.
    """
    owner = "normalised_scores"
    b = check_scalar(gallery_weight, "gallery_weight", float, min_val=0.0, owner=owner)
    a = check_scalar(margin_weight, "margin_weight", float, min_val=0.0, max_val=1.0, owner=owner)
    c = check_scalar(cohort, "cohort", int, min_val=1, owner=owner)
    centre = check_scalar(centre, "centre", float, min_val=0.0, max_val=4.0, owner=owner)
    td, cr = np.asarray(top_distances, np.float64), np.asarray(crowding, np.float64)
    if td.ndim != 2 or td.shape != cr.shape:
        raise ValueError(f"normalised_scores needs top_distances and crowding of one shape (M, K). Got {td.shape} and {cr.shape}.")
    k = td.shape[1]
    c = min(c, k - 1)
    if c == 0:
        others = np.full(td.shape, 2.0)
    else:  # the c smallest of the row without column j: the first c + 1 columns less j (or less column c)
        head = td[:, : c + 1].sum(1, keepdims=True)
        left_out = np.where((np.arange(k) <= c)[None, :], td, td[:, c : c + 1])
        others = (head - left_out) / c
    return td - b * (cr - centre) - a * others


def rerank(candidates: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each row's candidates and scores sorted by score, lowest first (stable: ties keep the
    distance order). candidates: (M, K) labels or indices; scores: (M, K)."""
    cand, s = np.asarray(candidates), np.asarray(scores, np.float64)
    if cand.shape != s.shape or s.ndim != 2:
        raise ValueError(f"rerank needs candidates and scores of one shape (M, K). Got {cand.shape} and {s.shape}.")
    o = np.argsort(s, axis=1, kind="stable")
    return np.take_along_axis(cand, o, 1), np.take_along_axis(s, o, 1)
