"""Open-set identification: its metrics, and the threshold that depends on the gallery's size.

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

The size-dependent threshold: a stranger compared with N enrolled people is falsely matched far
more often than a stranger compared with one. :class:`ImpostorModel` holds the distances of
non-mated comparisons measured on development data (per probe: a location and scale, and one
shared standardised shape ``G``) and predicts ``FPIR(t, N) = mean_p [1 - (1 - G((t - loc_p) /
scale_p))^N]``: each probe's best stranger match is the minimum of N draws from its own
distribution (probes differ: a blurred face is close to everybody). With one probe of location 0
and scale 1 this is the textbook ``1 - (1 - FAR(t))^N``. :func:`identification_threshold` solves
it for t. The shipped calibrations (``SHIPPED_MODELS``, beside this module) are SFace's, plain
and with flip TTA, made by ``bench/identify_lfw.py calibrate --write src/facenet/gallery`` from
CelebA-wild (not LFW); ``bench/identify_lfw.py develop`` checks them on held-out identities.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facenet.validation import check_option, check_scalar, check_type

#: The FPIR targets reported by default.
FPIR_TARGETS = (1e-2, 1e-3)
#: Shipped impostor models, by embedder name (files beside this module).
SHIPPED_MODELS = {"sface": "sface_impostors.json", "sface+flip": "sface_flip_impostors.json"}
MODEL_VERSION = 1


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


@dataclass(frozen=True)
class ImpostorModel:
    """Distances of non-mated comparisons, for predicting FPIR at a gallery size.

    z: (Q,) increasing standardised distances and log_cdf: (Q,) ``log10 G(z)`` there (the shared
    shape; below z[0] the log-CDF is extended along its first ``tail_points`` points' slope;
    above z[-1] it is 1). loc, scale: (P,) each development probe's location and scale
    (distance = loc + scale * z). A "pooled" model has P = 1, loc 0, scale 1: z is the distance.
    meta: how it was made (data, counts, command).
    """

    name: str
    z: np.ndarray
    log_cdf: np.ndarray
    loc: np.ndarray
    scale: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    tail_points: int = 8

    def __post_init__(self) -> None:
        z, lc = np.asarray(self.z, np.float64), np.asarray(self.log_cdf, np.float64)
        loc, scale = np.asarray(self.loc, np.float64), np.asarray(self.scale, np.float64)
        if z.ndim != 1 or z.shape != lc.shape or z.size < 2 or np.any(np.diff(z) <= 0) or np.any(np.diff(lc) < 0):
            raise ValueError("ImpostorModel needs increasing z and non-decreasing log_cdf of equal length (>= 2).")
        if loc.shape != scale.shape or loc.ndim != 1 or loc.size == 0 or np.any(scale <= 0):
            raise ValueError("ImpostorModel needs loc and scale of equal length (>= 1), scale > 0.")
        for k, v in (("z", z), ("log_cdf", np.minimum(lc, 0.0)), ("loc", loc), ("scale", scale)):
            object.__setattr__(self, k, v)

    @property
    def slope(self) -> float:
        """d log10 G / dz of the lower tail (the extrapolation below z[0])."""
        n = min(self.tail_points, self.z.size - 1)
        return max(float((self.log_cdf[n] - self.log_cdf[0]) / (self.z[n] - self.z[0])), 1e-3)

    def log_g(self, u: np.ndarray) -> np.ndarray:
        """log10 G(u) (u standardised distances, any shape)."""
        u = np.asarray(u, np.float64)
        inside = np.interp(u, self.z, self.log_cdf, left=np.nan, right=0.0)
        below = self.log_cdf[0] + self.slope * (u - self.z[0])
        return np.where(u < self.z[0], below, inside)

    def far(self, t: float) -> float:
        """FAR(t): share of single non-mated comparisons (any probe) with distance below t."""
        return float(np.mean(10.0 ** self.log_g((t - self.loc) / self.scale)))

    def inverse(self, log_cdf: np.ndarray) -> np.ndarray:
        """z with log10 G(z) = log_cdf (any shape; the inverse of :meth:`log_g`)."""
        v = np.asarray(log_cdf, np.float64)
        inside = np.interp(v, self.log_cdf, self.z)
        return np.where(v < self.log_cdf[0], self.z[0] + (v - self.log_cdf[0]) / self.slope, inside)

    def fpir(self, t: float, n_subjects: int, faces_per_subject: float = 1.0) -> float:
        """Predicted FPIR of the plain distance score at threshold t with n_subjects enrolled
        (each with ``faces_per_subject`` faces): mean_p 1 - (1 - G_p(t))^(N m)."""
        n = check_scalar(n_subjects, "n_subjects", int, min_val=1, owner="ImpostorModel.fpir")
        m = check_scalar(faces_per_subject, "faces_per_subject", float, min_val=1.0, owner="ImpostorModel.fpir")
        g = np.minimum(10.0 ** self.log_g((float(t) - self.loc) / self.scale), 1.0 - 1e-15)
        return float(np.mean(-np.expm1(n * m * np.log1p(-g))))

    def threshold(self, n_subjects: int, fpir: float = 1e-2, faces_per_subject: float = 1.0) -> float:
        """The largest t (squared L2, to 1e-6) with predicted FPIR(t, n_subjects) <= fpir."""
        n = check_scalar(n_subjects, "n_subjects", int, min_val=1, owner="identification_threshold")
        f = check_unit(fpir, "fpir", "identification_threshold")
        lo, hi = 0.0, 4.0
        if self.fpir(hi, n, faces_per_subject) <= f:
            return hi
        if self.fpir(lo, n, faces_per_subject) > f:
            return lo
        while hi - lo > 1e-6:
            mid = 0.5 * (lo + hi)
            if self.fpir(mid, n, faces_per_subject) <= f:
                lo = mid
            else:
                hi = mid
        return lo

    def simulate_nonmated(self, n_subjects: int, n_top: int, faces_per_subject: float = 1.0, draws: int = 32,
                          seed: int = 0) -> np.ndarray:
        """Simulated distances of a stranger to its nearest ``n_top`` subjects out of
        ``n_subjects``: ``draws`` strangers per development probe, each subject's distance the
        minimum over ``faces_per_subject`` faces. Uses the exact order statistics of N uniform
        draws (no N-sized arrays). Returns (P * draws, min(n_top, N)) float64, ascending rows."""
        n = check_scalar(n_subjects, "n_subjects", int, min_val=1, owner="simulate_nonmated")
        k = min(check_scalar(n_top, "n_top", int, min_val=1, owner="simulate_nonmated"), n)
        m = check_scalar(faces_per_subject, "faces_per_subject", float, min_val=1.0, owner="simulate_nonmated")
        rng = np.random.default_rng(seed)
        p = len(self.loc)
        # log(1 - U_(j)) of the j-th smallest of N uniforms: a running sum of log(V) / (N - j + 1)
        logv = np.log(rng.random((p * draws, k)))
        w = np.cumsum(logv / (n - np.arange(k))[None, :], axis=1)
        log_g = np.log10(np.maximum(-np.expm1(w / m), 1e-300))  # per-face G from the per-subject level
        loc, scale = np.repeat(self.loc, draws)[:, None], np.repeat(self.scale, draws)[:, None]
        return loc + scale * self.inverse(log_g)

    def quantile_distance(self, p: float) -> float:
        """The distance below which a share p of single non-mated comparisons falls (FAR^-1)."""
        lo, hi = 0.0, 4.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.far(mid) < p else (lo, mid)
        return lo

    def to_dict(self) -> dict[str, Any]:
        return {"version": MODEL_VERSION, "name": self.name, "meta": self.meta, "tail_points": self.tail_points,
                "z": [round(float(v), 5) for v in self.z], "log10_cdf": [round(float(v), 5) for v in self.log_cdf],
                "loc": [round(float(v), 4) for v in self.loc], "scale": [round(float(v), 4) for v in self.scale]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ImpostorModel":
        if d.get("version") != MODEL_VERSION:
            raise ValueError(f"Impostor model version {d.get('version')!r} is not {MODEL_VERSION}.")
        return cls(str(d["name"]), np.array(d["z"]), np.array(d["log10_cdf"]), np.array(d["loc"]),
                   np.array(d["scale"]), dict(d.get("meta", {})), int(d.get("tail_points", 8)))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ImpostorModel":
        return cls.from_dict(json.loads(Path(path).read_text()))

    @classmethod
    def shipped(cls, name: str = "sface") -> "ImpostorModel":
        """The calibration shipped for a registered embedder (``SHIPPED_MODELS``)."""
        check_option(name, "model", tuple(SHIPPED_MODELS), owner="ImpostorModel.shipped")
        return cls.load(Path(__file__).with_name(SHIPPED_MODELS[name]))


def check_unit(value: Any, name: str, owner: str) -> float:
    return check_scalar(value, name, float, min_val=0.0, max_val=1.0, include="neither", owner=owner)


def identification_threshold(n_subjects: int, fpir: float = 1e-2, model: ImpostorModel | str = "sface", *,
                             scoring: str = "distance", margin_weight: float = 0.75, cohort: int = 10,
                             faces_per_subject: float = 1.0, draws: int = 128) -> float:
    """The identification threshold for a gallery of ``n_subjects`` enrolled subjects, so that a
    stranger is matched to somebody with probability ``fpir``, as predicted by ``model`` (an
    :class:`ImpostorModel` or the name of a shipped one). Decreases as the gallery grows.

    scoring: "distance" (squared L2 of the nearest face; solved from the model's formula) or
        "margin" (:class:`~facenet.gallery.identifiers.KNNIdentifier`'s ``d1 - margin_weight *
        mean(next cohort subjects)``; from ``draws`` simulated strangers per development probe,
        seeded, so the same arguments give the same threshold).
    faces_per_subject: mean enrolled faces per subject (a stranger meets each of them).
    """
    if isinstance(model, str):
        model = ImpostorModel.shipped(model)
    check_type(model, "model", ImpostorModel, owner="identification_threshold", what="an ImpostorModel or a model name")
    check_option(scoring, "scoring", ("distance", "margin"), owner="identification_threshold")
    if scoring == "distance":
        return model.threshold(n_subjects, fpir, faces_per_subject)
    f = check_unit(fpir, "fpir", "identification_threshold")
    lam = check_scalar(margin_weight, "margin_weight", float, min_val=0.0, max_val=1.0, owner="identification_threshold")
    c = check_scalar(cohort, "cohort", int, min_val=1, owner="identification_threshold")
    d = model.simulate_nonmated(n_subjects, c + 1, faces_per_subject, draws=draws)
    return threshold_at_fpir(margin_scores(d, lam, c), f)


def margin_scores(top_distances: np.ndarray, margin_weight: float, cohort: int) -> np.ndarray:
    """``d1 - margin_weight * mean(d2 .. d(cohort+1))`` of ascending per-subject distances
    (M, K); the mean is over the K - 1 there are (2.0, orthogonal, when there are none)."""
    td = np.asarray(top_distances, np.float64)
    others = td[:, 1 : cohort + 1]
    mean = others.mean(1) if others.shape[1] else np.full(len(td), 2.0)
    return td[:, 0] - margin_weight * mean


def fit_impostor_model(distances: Any, name: str, kind: str = "per_probe", tail_from: float = 1e-4, n_grid: int = 160,
                       max_probes: int | None = None, seed: int = 0, meta: dict[str, Any] | None = None) -> ImpostorModel:
    """Fit an :class:`ImpostorModel` from non-mated distances.

    distances: (P, M) float, probe p's squared-L2 distances to M comparisons with other
        identities; NaN marks a cell to leave out (same identity, itself). Rows need >= 2 values.
    kind: "per_probe" (each probe standardised by its own mean and std, one shared shape) or
        "pooled" (all distances as one distribution: FPIR = 1 - (1 - FAR)^N).
    tail_from: the smallest probability stored; below it the log-CDF is extended along the
        slope of the stored tail (an exponential tail). The extreme empirical tail of a few
        hundred identities is a handful of look-alike or mislabelled pairs; extending it from
        where the data are dense keeps the threshold for a large gallery stable (see
        ``bench/identify_lfw.py develop``). Clipped to 1 / (number of distances).
    n_grid: points of the stored CDF (log-spaced from ``tail_from`` to 0.5, then linear to 1).
    max_probes: keep this many probes' (loc, scale), a seeded random subset (the shape G is
        always estimated from every distance); None keeps all.
    """
    kind = check_option(kind, "kind", ("per_probe", "pooled"), owner="fit_impostor_model")
    tail_from = check_unit(tail_from, "tail_from", "fit_impostor_model")
    n_grid = check_scalar(n_grid, "n_grid", int, min_val=8, owner="fit_impostor_model")
    check_scalar(max_probes, "max_probes", int, min_val=1, owner="fit_impostor_model", allow_none=True)
    d = np.asarray(distances, np.float64)
    if d.ndim != 2:
        raise ValueError(f"fit_impostor_model needs distances (P, M). Got shape {d.shape}.")
    ok = np.isfinite(d)
    counts = ok.sum(1)
    d, ok = d[counts >= 2], ok[counts >= 2]
    if len(d) == 0:
        raise ValueError("fit_impostor_model needs at least one probe with two or more distances.")
    if kind == "per_probe":
        loc = np.nanmean(np.where(ok, d, np.nan), 1)
        scale = np.maximum(np.nanstd(np.where(ok, d, np.nan), 1), 1e-6)
        u = ((d - loc[:, None]) / scale[:, None])[ok]
    else:
        loc, scale = np.zeros(1), np.ones(1)
        u = d[ok]
    u = np.sort(u)
    n = u.size
    p0 = min(max(tail_from, 1.0 / n), 0.25)
    lo = np.geomspace(p0, 0.5, n_grid - n_grid // 8, endpoint=False)
    probs = np.unique(np.concatenate([lo, np.linspace(0.5, 1.0, n_grid // 8 + 1)]))
    z = np.unique(np.quantile(u, probs, method="inverted_cdf"))
    cdf = np.searchsorted(u, z, side="right") / n  # G(z): share of values <= z
    if max_probes is not None and len(loc) > max_probes:
        keep = np.sort(np.random.default_rng(seed).choice(len(loc), max_probes, replace=False))
        loc, scale = loc[keep], scale[keep]
    info = {"kind": kind, "n_probes": int(len(d)), "n_probes_kept": int(len(loc)), "n_distances": int(n),
            "tail_from": p0, **(meta or {})}
    tail = max(1, int(np.searchsorted(cdf, 10.0 * cdf[0])) - 1)  # the slope of the first decade
    return ImpostorModel(name, z, np.log10(cdf), loc, scale, info, tail_points=tail)
