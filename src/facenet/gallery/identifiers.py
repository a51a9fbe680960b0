"""Identifiers over plain embeddings, in scikit-learn's style, with an open-set "unknown".

    knn = KNNIdentifier(threshold="auto").fit(embeddings, names)   # (N, 128) unit vectors, (N,) names
    knn.predict(queries)                  # (M,) names, or "unknown" where the best match is too far
    knn.identify(queries, n_candidates=5) # + scores, the top-5 subjects and their distances
    SVMIdentifier(C=10).fit(embeddings, names).calibrate(dev_x, dev_y, fpir=1e-2).predict(queries)

Every identifier gives each query an open-set **score**, lower = better match (k-NN: a squared
L2 distance or its normalised form; SVM: minus the best class's decision value), and accepts its
top-1 subject when ``score < threshold_``; otherwise the answer is ``unknown_label``.
``threshold=None`` is closed-set identification (never unknown). ``calibrate`` chooses the
threshold on labelled development data for a target FPIR (share of strangers who are matched).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facenet.errors import FacenetError
from facenet.gallery.impostor import ImpostorModel, identification_threshold
from facenet.gallery.openset import check_unit, margin_scores, threshold_at_fpir
from facenet.validation import check_option, check_scalar, check_type

KNN_SCORES = ("distance", "margin")


class NotFittedError(FacenetError, ValueError, AttributeError):
    """An identifier used before ``fit`` (scikit-learn's NotFittedError has the same bases)."""


@dataclass(frozen=True)
class OpenSetPrediction:
    """What an identifier says about M queries.

    labels: (M,) object, the top-1 subject, or the unknown label where it was rejected.
    scores: (M,) float64 open-set scores (lower = better match); accepted where < threshold.
    accepted: (M,) bool. threshold: the threshold used (None: closed set, every query accepted).
    candidates: (M, K) object, the top-K subjects, best first (None past the number of subjects).
    distances: (M, K) float64, their distances (k-NN: squared L2 of the subject's nearest face;
        SVM: minus the decision value), +inf past the number of subjects.
    """

    labels: np.ndarray
    scores: np.ndarray
    accepted: np.ndarray
    threshold: float | None
    candidates: np.ndarray
    distances: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def check_embeddings(x: Any, name: str, owner: str, dim: int | None = None) -> np.ndarray:
    """(N, D) finite floats, rows L2-normalised → float32. ValueError with the project's message."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2 or (dim is not None and a.shape[1] != dim) or a.shape[1] == 0:
        want = f"(N, {dim})" if dim is not None else "(N, D)"
        raise ValueError(f"The {name!r} parameter of {owner} must be an array of shape {want}. Got shape {a.shape} instead.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"The {name!r} parameter of {owner} must hold finite values. Got NaN or inf instead.")
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError(f"The {name!r} parameter of {owner} must not hold all-zero rows (they have no direction).")
    return a / norm


def check_labels(y: Any, n: int, owner: str) -> np.ndarray:
    labels = np.asarray(y, dtype=object).reshape(-1) if not np.isscalar(y) else np.array([y], dtype=object)
    if len(labels) != n:
        raise ValueError(f"The 'labels' parameter of {owner} must hold one label per embedding ({n}). Got {len(labels)} instead.")
    return labels


class _Identifier:
    """What both identifiers share: predict, identify, score and calibrate over ``_rank``."""

    unknown_label: Any
    threshold_: float | None
    classes_: np.ndarray

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit(embeddings, labels) first.")

    def _rank(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(top-n subject codes (M, n) best first, -1 past the end; their distances (M, n);
        open-set scores (M,))."""
        raise NotImplementedError

    def _queries(self, x: Any) -> np.ndarray:
        self._check_fitted()
        return check_embeddings(x, "X", type(self).__name__, dim=self.n_features_in_)

    def identify(self, X: Any, n_candidates: int = 5) -> OpenSetPrediction:
        """Top-1 answer (or unknown), score and the top ``n_candidates`` subjects of each query.

        X: (M, D) embeddings (rows are L2-normalised)."""
        n = check_scalar(n_candidates, "n_candidates", int, min_val=1, owner="identify")
        x = self._queries(X)
        codes, dist, scores = self._rank(x, n)
        names = np.empty(codes.shape, dtype=object)
        names[codes >= 0] = self.classes_[codes[codes >= 0]]
        dist = np.where(codes >= 0, dist, np.inf)
        t = self.threshold_
        accepted = np.ones(len(x), bool) if t is None else scores < t
        labels = np.where(accepted, names[:, 0] if len(x) else np.zeros(0, object), self.unknown_label).astype(object)
        return OpenSetPrediction(labels, scores.astype(np.float64), accepted, t, names, dist.astype(np.float64))

    def predict(self, X: Any) -> np.ndarray:
        """(M,) object: each query's subject, or ``unknown_label`` where it is rejected."""
        return self.identify(X, n_candidates=1).labels

    def predict_scores(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """(top-1 subject before rejection (M,) object, open-set score (M,), lower = better)."""
        r = self.identify(X, n_candidates=1)
        return r.candidates[:, 0], r.scores

    def score(self, X: Any, y: Any) -> float:
        """Open-set accuracy: share of queries answered right, where the right answer for a query
        whose label is not enrolled (or is ``unknown_label``) is ``unknown_label``."""
        x = self._queries(X)
        truth = check_labels(y, len(x), f"{type(self).__name__}.score")
        known = np.isin(truth, self.classes_)
        truth = np.where(known, truth, self.unknown_label)
        return float(np.mean(self.predict(x) == truth)) if len(x) else float("nan")

    def calibrate(self, X: Any, y: Any, fpir: float = 1e-2) -> "_Identifier":
        """Choose ``threshold_`` on development queries so that at most a share ``fpir`` of the
        non-mated ones (label not enrolled, or ``unknown_label``) is accepted. Returns self.

        Sets ``calibration_``: {"fpir_target", "threshold", "n_nonmated"}."""
        fpir = check_unit(fpir, "fpir", "calibrate")
        x = self._queries(X)
        truth = check_labels(y, len(x), f"{type(self).__name__}.calibrate")
        non = ~np.isin(truth, self.classes_) | (truth == self.unknown_label)
        if not non.any():
            raise ValueError("calibrate needs non-mated queries (labels that are not enrolled, or the unknown label).")
        _, _, scores = self._rank(x[non], 1)
        self.threshold_ = threshold_at_fpir(scores, fpir)
        self.calibration_ = {"fpir_target": fpir, "threshold": self.threshold_, "n_nonmated": int(non.sum())}
        return self

    def _fit_labels(self, X: Any, labels: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
        x = check_embeddings(X, "embeddings", owner)
        lab = check_labels(labels, len(x), owner)
        if len(x) == 0:
            raise ValueError(f"{owner}.fit needs at least one embedding.")
        if np.any(lab == self.unknown_label):
            raise ValueError(f"The labels given to {owner}.fit must not use the unknown label {self.unknown_label!r}.")
        self.classes_, codes = np.unique(lab, return_inverse=True)
        self.classes_ = self.classes_.astype(object)
        self.n_features_in_ = x.shape[1]
        return x, codes.reshape(-1)


class KNNIdentifier(_Identifier):
    """Nearest-neighbour identification (the FaceNet paper): squared L2 between unit vectors.

    Every enrolled face is kept (several photos per person are not averaged away): a subject's
    distance is that of its nearest face.

    k: enrolled faces that vote (1: the nearest neighbour; ties go to the nearer subject).
    threshold: a float on the score, None (closed set), or "auto": the size-dependent threshold
        from ``impostor_model`` at ``fpir`` for this gallery's size (:mod:`facenet.gallery.openset`).
    unknown_label: the answer for a rejected query.
    scoring: the open-set score: "distance" (the top subject's distance d1) or "margin": d1 minus ``margin_weight``
        times the mean distance of the next ``cohort`` subjects (a stranger is about as far from
        everybody; a mated probe is much nearer its own subject than the others).
    impostor_model: an :class:`~facenet.gallery.impostor.ImpostorModel` or a shipped one's name
        (for ``threshold="auto"``; it must describe the embedder that made the embeddings).

    Fitted: ``classes_`` (S,) subjects, ``embeddings_`` (N, D), ``face_codes_`` (N,) subject
    index per face, ``n_subjects_``, ``threshold_``.
    """

    def __init__(self, k: int = 1, threshold: float | str | None = None, unknown_label: Any = "unknown",
                 scoring: str = "distance", margin_weight: float = 0.75, cohort: int = 10, fpir: float = 1e-2,
                 impostor_model: ImpostorModel | str = "sface", chunk_size: int = 1024) -> None:
        self.k = k
        self.threshold = threshold
        self.unknown_label = unknown_label
        self.scoring = scoring
        self.margin_weight = margin_weight
        self.cohort = cohort
        self.fpir = fpir
        self.impostor_model = impostor_model
        self.chunk_size = chunk_size

    def _check_params(self) -> None:
        owner = "KNNIdentifier"
        check_scalar(self.k, "k", int, min_val=1, owner=owner)
        check_option(self.scoring, "scoring", KNN_SCORES, owner=owner)
        check_scalar(self.margin_weight, "margin_weight", float, min_val=0.0, max_val=1.0, owner=owner)
        check_scalar(self.cohort, "cohort", int, min_val=1, owner=owner)
        check_unit(self.fpir, "fpir", owner)
        check_scalar(self.chunk_size, "chunk_size", int, min_val=1, owner=owner)
        if isinstance(self.threshold, str):
            check_option(self.threshold, "threshold", ("auto",), owner=owner)
        else:
            check_scalar(self.threshold, "threshold", float, owner=owner, allow_none=True)
        if not isinstance(self.impostor_model, str):
            check_type(self.impostor_model, "impostor_model", ImpostorModel, owner=owner,
                       what="an ImpostorModel or a shipped model's name")

    def fit(self, embeddings: Any, labels: Any) -> "KNNIdentifier":
        """Enrol faces. embeddings: (N, D) (rows L2-normalised); labels: (N,) subject per face."""
        self._check_params()
        x, codes = self._fit_labels(embeddings, labels, "KNNIdentifier")
        order = np.argsort(codes, kind="stable")
        self.embeddings_, self.face_codes_ = x, codes
        self._by_subject = x[order]
        self._starts = np.searchsorted(codes[order], np.arange(len(self.classes_)))
        self.n_subjects_ = len(self.classes_)
        self.threshold_ = self._fit_threshold(len(x))
        return self

    def _fit_threshold(self, n_faces: int) -> float | None:
        if self.threshold is None:
            return None
        if self.threshold != "auto":
            return float(self.threshold)
        model = self.impostor_model
        return identification_threshold(self.n_subjects_, self.fpir, model, scoring=self.scoring,
                                         margin_weight=self.margin_weight, cohort=self.cohort,
                                         faces_per_subject=n_faces / self.n_subjects_)

    def kneighbors(self, X: Any, n_neighbors: int | None = None, return_distance: bool = True) -> Any:
        """Nearest enrolled faces (scikit-learn's shape): (distances (M, n) squared L2, indices
        (M, n) into ``embeddings_``), nearest first; only the indices without ``return_distance``."""
        x = self._queries(X)
        n = check_scalar(self.k if n_neighbors is None else n_neighbors, "n_neighbors", int, min_val=1,
                         max_val=len(self.embeddings_), owner="kneighbors")
        dist, idx = [], []
        for q in self._chunks(x):
            d = self._face_distances(q)
            part = np.argpartition(d, n - 1, axis=1)[:, :n] if n < d.shape[1] else np.tile(np.arange(d.shape[1]), (len(d), 1))
            pd = np.take_along_axis(d, part, 1)
            o = np.argsort(pd, axis=1, kind="stable")
            dist.append(np.take_along_axis(pd, o, 1))
            idx.append(np.take_along_axis(part, o, 1))
        dist_a = np.concatenate(dist) if dist else np.zeros((0, n), np.float32)
        idx_a = np.concatenate(idx) if idx else np.zeros((0, n), np.int64)
        return (dist_a, idx_a) if return_distance else idx_a

    def _chunks(self, x: np.ndarray):
        step = max(1, min(self.chunk_size, int(2e7 // max(len(self.embeddings_), 1))))
        for i in range(0, len(x), step):
            yield x[i : i + step]

    def _face_distances(self, q: np.ndarray) -> np.ndarray:
        return np.clip(2.0 - 2.0 * (q @ self.embeddings_.T), 0.0, 4.0)

    def _rank(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.n_subjects_
        need = min(s, max(n, self.cohort + 1 if self.scoring == "margin" else 1))
        codes_out, dist_out, score_out = [], [], []
        for q in self._chunks(x):
            d_sub = np.minimum.reduceat(np.clip(2.0 - 2.0 * (q @ self._by_subject.T), 0.0, 4.0), self._starts, axis=1)
            top = np.argpartition(d_sub, need - 1, axis=1)[:, :need] if need < s else np.tile(np.arange(s), (len(q), 1))
            td = np.take_along_axis(d_sub, top, 1)
            o = np.argsort(td, axis=1, kind="stable")
            top, td = np.take_along_axis(top, o, 1), np.take_along_axis(td, o, 1)
            if self.k > 1:
                top, td = self._vote(q, top, td, d_sub)
            codes_out.append(top)
            dist_out.append(td)
            score_out.append(self._open_set_score(td))
        m = len(x)
        codes = np.concatenate(codes_out) if codes_out else np.zeros((0, need), np.int64)
        dist = np.concatenate(dist_out) if dist_out else np.zeros((0, need), np.float32)
        scores = np.concatenate(score_out) if score_out else np.zeros(0)
        if need < n:  # fewer subjects than candidates asked for
            codes = np.concatenate([codes, np.full((m, n - need), -1)], 1)
            dist = np.concatenate([dist, np.full((m, n - need), np.inf, np.float32)], 1)
        return codes[:, :n], dist[:, :n], scores

    def _vote(self, q: np.ndarray, top: np.ndarray, td: np.ndarray, d_sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move the subject with most of the k nearest faces' votes to the front (ties: nearer)."""
        k = min(self.k, len(self.embeddings_))
        d = self._face_distances(q)
        near = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.tile(np.arange(d.shape[1]), (len(q), 1))
        votes = self.face_codes_[near]
        for r in range(len(q)):
            cands, counts = np.unique(votes[r], return_counts=True)
            best = cands[counts == counts.max()]
            winner = best[np.argmin(d_sub[r, best])]
            if winner != top[r, 0]:
                rest = top[r][top[r] != winner][: top.shape[1] - 1]
                top[r] = np.concatenate([[winner], rest])
                td[r] = d_sub[r, top[r]]
        return top, td

    def _open_set_score(self, td: np.ndarray) -> np.ndarray:
        if self.scoring == "distance":
            return td[:, 0].astype(np.float64)
        return margin_scores(td, self.margin_weight, self.cohort)


class SVMIdentifier(_Identifier):
    """One-vs-rest linear SVM on the embeddings (scikit-learn's LinearSVC), for galleries with
    several photos per person. The open-set score is minus the best class's decision value:
    a query is accepted when ``score < threshold_`` (``calibrate`` picks it on development data).

    C: inverse regularisation (unit-norm features want a large C). threshold: float or None.
    class_weight: None or "balanced". max_iter, random_state: passed to LinearSVC.
    Fitted: ``classes_``, ``svm_`` (the LinearSVC), ``threshold_``.
    """

    def __init__(self, C: float = 10.0, threshold: float | None = None, unknown_label: Any = "unknown",
                 class_weight: str | None = None, max_iter: int = 20000, random_state: int = 0) -> None:
        self.C = C
        self.threshold = threshold
        self.unknown_label = unknown_label
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, embeddings: Any, labels: Any) -> "SVMIdentifier":
        """Train on (N, D) embeddings and (N,) labels (two subjects or more)."""
        owner = "SVMIdentifier"
        check_scalar(self.C, "C", float, min_val=0.0, include="neither", owner=owner)
        check_scalar(self.threshold, "threshold", float, owner=owner, allow_none=True)
        check_option(self.class_weight, "class_weight", (None, "balanced"), owner=owner)
        check_scalar(self.max_iter, "max_iter", int, min_val=1, owner=owner)
        check_scalar(self.random_state, "random_state", int, min_val=0, owner=owner)
        x, codes = self._fit_labels(embeddings, labels, owner)
        if len(self.classes_) < 2:
            raise ValueError(f"SVMIdentifier needs at least 2 subjects to separate. Got {len(self.classes_)}.")
        from sklearn.svm import LinearSVC

        self.svm_ = LinearSVC(C=float(self.C), class_weight=self.class_weight, max_iter=self.max_iter,
                              random_state=self.random_state).fit(x, codes)
        self.threshold_ = None if self.threshold is None else float(self.threshold)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """(M, S) one-vs-rest decision values, columns in ``classes_`` order."""
        return self._decision(self._queries(X))

    def _decision(self, x: np.ndarray) -> np.ndarray:
        dec = np.asarray(self.svm_.decision_function(x), np.float64)
        return np.stack([-dec, dec], 1) if dec.ndim == 1 else dec

    def _rank(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = len(self.classes_)
        neg = -self._decision(x) if len(x) else np.zeros((0, s))
        need = min(n, s)
        top = np.argsort(neg, axis=1, kind="stable")[:, :need]
        td = np.take_along_axis(neg, top, 1)
        if need < n:
            top = np.concatenate([top, np.full((len(x), n - need), -1)], 1)
            td = np.concatenate([td, np.full((len(x), n - need), np.inf)], 1)
        return top, td, td[:, 0].copy() if len(x) else np.zeros(0)
