"""The identification threshold that depends on the gallery's size.

A stranger compared with N enrolled people is falsely matched far more often than a stranger
compared with one. :class:`ImpostorModel` holds the distances of non-mated comparisons measured
on development data (per probe: a location and scale, and one shared standardised shape ``G``)
and predicts ``FPIR(t, N) = mean_p [1 - (1 - G((t - loc_p) / scale_p))^N]``: each probe's best
stranger match is the minimum of N draws from its own distribution (probes differ: a blurred
face is close to everybody). With one probe of location 0 and scale 1 this is the textbook
``1 - (1 - FAR(t))^N``. :func:`identification_threshold` solves it for t.

The shipped calibrations (``SHIPPED_MODELS``, beside this module) are SFace's, plain and with
flip TTA, made by ``bench/identify_lfw.py calibrate --write src/facenet/gallery`` from
CelebA-wild (not LFW). ``fused`` borrows SFace's, rescaled: a model fitted on fused's own
CelebA-wild embeddings was no better calibrated on held-out people
(``bench/own_embedding/impostor_check.py``); ``bench/identify_lfw.py develop`` checks them on held-out identities.
:func:`adapt_impostor_model` keeps a model's shape but takes each probe's location and scale
from a gallery's own people (every enrolled face compared with the other people's faces): the
population a gallery holds (studio portraits, a door camera) moves the whole distribution, while
the shape of its far tail needs far more comparisons than a gallery has.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facenet.gallery.openset import check_unit, margin_scores, threshold_at_fpir
from facenet.validation import check_option, check_scalar, check_type

#: Shipped impostor models, by embedder name (files beside this module).
SHIPPED_MODELS = {"sface": "sface_impostors.json", "sface+flip": "sface_flip_impostors.json"}
MODEL_VERSION = 1


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

    def rescaled(self, factor: float) -> "ImpostorModel":
        """The same model for distances ``factor`` times larger (each probe's location and scale
        multiplied; the shape kept), its meta noting the factor."""
        return ImpostorModel(self.name, self.z, self.log_cdf, self.loc * factor, self.scale * factor,
                             {**self.meta, "rescaled": round(float(factor), 4)}, self.tail_points)

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


#: Fewer people than this: a gallery's own distances say too little; the model is used as it is.
MIN_ADAPT_SUBJECTS = 20


def adapt_impostor_model(model: ImpostorModel, embeddings: Any, subjects: Any, *, max_probes: int = 1024,
                         max_comparisons: int = 5000, seed: int = 0,
                         min_subjects: int = MIN_ADAPT_SUBJECTS) -> ImpostorModel:
    """``model``'s shape with each probe's location and scale taken from a gallery's own people.

    Every sampled enrolled face (at most ``max_probes``, seeded) is compared with the faces of
    the other people (at most ``max_comparisons``, seeded): the mean and standard deviation of
    those non-mated distances are its (loc, scale). This is what the gallery knows without any
    stranger. Where the gallery's people are the model's own population it changes little
    (CelebA-wild galleries of held-out identities: mean |log10(observed / target FPIR)| 0.13
    adapted, 0.09 not, ``bench/identify_lfw.py develop``); where they are not, it follows them
    (the CelebA-wild model on LFW's 1,680 people, target 1e-2: 0.47% of strangers matched instead
    of 0.34%, TPIR 94.35% instead of 91.68%, ``make bench-identify``).

    embeddings: (N, D) float32 unit norm; subjects: (N,) the person of each face.
    Returns ``model`` itself when the gallery has fewer than ``min_subjects`` people.
    """
    check_type(model, "model", ImpostorModel, owner="adapt_impostor_model", what="an ImpostorModel")
    x = np.asarray(embeddings, np.float32)
    s = np.asarray(subjects)
    if x.ndim != 2 or len(x) != len(s):
        raise ValueError(f"adapt_impostor_model needs embeddings (N, D) and N subjects. Got {x.shape} and {s.shape}.")
    check_scalar(max_probes, "max_probes", int, min_val=1, owner="adapt_impostor_model")
    check_scalar(max_comparisons, "max_comparisons", int, min_val=2, owner="adapt_impostor_model")
    _, inv = np.unique(s, return_inverse=True)
    n_subjects = int(inv.max()) + 1 if len(inv) else 0
    if n_subjects < max(min_subjects, 2):
        return model
    rng = np.random.default_rng(seed)
    probes = np.arange(len(x)) if len(x) <= max_probes else np.sort(rng.choice(len(x), max_probes, replace=False))
    comp = np.arange(len(x)) if len(x) <= max_comparisons else np.sort(rng.choice(len(x), max_comparisons, replace=False))
    d = np.clip(2.0 - 2.0 * x[probes] @ x[comp].T, 0.0, 4.0).astype(np.float64)
    other = inv[probes][:, None] != inv[comp][None, :]
    count = other.sum(1)
    ok = count >= 2
    if not ok.any():
        return model
    d, other, count = d[ok], other[ok], count[ok]
    loc = np.where(other, d, 0.0).sum(1) / count
    scale = np.maximum(np.sqrt(np.where(other, (d - loc[:, None]) ** 2, 0.0).sum(1) / count), 1e-6)
    meta = {**model.meta, "adapted": {"subjects": n_subjects, "faces": int(len(x)), "probes": int(ok.sum()),
                                      "comparisons": int(len(comp)), "base_loc": round(float(model.loc.mean()), 4),
                                      "loc": round(float(loc.mean()), 4), "scale": round(float(scale.mean()), 4)}}
    return ImpostorModel(model.name, model.z, model.log_cdf, loc, scale, meta, model.tail_points)


def impostor_model_from_photos(embeddings: Any, identities: Any, name: str, source: str, *,
                               min_identities: int = MIN_ADAPT_SUBJECTS, max_probes: int = 1024,
                               seed: int = 0) -> ImpostorModel | None:
    """An impostor model fitted on labelled photos (what ``facenet calibrate --gallery`` stores):
    every photo against every photo of another identity.

    embeddings: (N, D) float32 unit norm; identities: (N,) labels. Returns None with fewer than
    ``min_identities`` identities (too few strangers to say anything about a gallery's size).
    """
    x = np.asarray(embeddings, np.float32)
    lab = np.asarray(identities)
    if x.ndim != 2 or len(x) != len(lab):
        raise ValueError(f"impostor_model_from_photos needs embeddings (N, D) and N identities. Got {x.shape} and {lab.shape}.")
    if len(np.unique(lab)) < min_identities:
        return None
    d = np.clip(2.0 - 2.0 * x.astype(np.float64) @ x.T.astype(np.float64), 0.0, 4.0)
    d[lab[:, None] == lab[None, :]] = np.nan
    return fit_impostor_model(d, name, max_probes=max_probes, seed=seed,
                              meta={"source": source, "photos": int(len(x)), "identities": int(len(np.unique(lab)))})
