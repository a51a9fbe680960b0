"""Harmonic embeddings in a gallery: which models' embeddings may be compared, and at what threshold.

A model declares in its config the models it was trained to be comparable with, each with the
threshold of a *mixed pair* (one embedding from each model), chosen on LFW View 1
(``ModelConfig.compatible_with``; ``fused`` declares ``sface``). The declaration works both ways
(a mixed pair is symmetric: the threshold is fitted on pairs taken both ways round, see
:func:`fit_mixed_threshold`), and it is for plain embeddings: flip TTA on either side, other
weights than the registered ones, or another embedding size are not covered, so such a pair is
refused like any undeclared one (ModelMismatchError naming both models).

Within a gallery every face carries the identity of the model that made it, so a gallery made by
SFace can hold ``fused`` faces during an upgrade. A query is compared with every face; the
threshold of each comparison follows its pair kind: :func:`pair_scale` rescales a distance onto
the gallery's own model's scale (``d * t(gallery, gallery) / t(query, face)``, each ``t`` the
verification threshold of that pair kind), so one identification threshold (automatic or fixed,
stated for the gallery's model) decides every kind, and people are ranked by rescaled distance.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from facenet.gallery.store import ModelIdentity, ModelMismatchError, NewFace

#: Where a declared mixed-pair threshold comes from (for threshold sources).
MIXED_SOURCE = "its config's compatible_with, chosen on LFW View 1"


def _config(name: str) -> Any:
    from facenet.errors import FacenetError
    from facenet.models.registry import model_config

    try:
        return model_config(name)
    except (FacenetError, KeyError, ValueError, OSError):
        return None


def _registered(identity: ModelIdentity, cfg: Any) -> bool:
    """Whether ``identity`` is the registered model's own (its weights, its embedding size)."""
    sha = cfg.weights.sha256 if cfg.weights is not None else ""
    return identity.weights_sha256 == sha and identity.embedding_size == int(cfg.embedding_size)


def mixed_threshold(a: ModelIdentity, b: ModelIdentity) -> float | None:
    """The declared threshold of a mixed pair between two different models (either may declare
    the other), or None when they are not harmonic: undeclared, flip on either side, weights or
    embedding size other than the registered models'."""
    if a.model == b.model or a.flip or b.flip or a.embedding_size != b.embedding_size:
        return None
    ca, cb = _config(a.model), _config(b.model)
    if ca is None or cb is None or not (_registered(a, ca) and _registered(b, cb)):
        return None
    t = ca.mixed_threshold(b.model)
    return t if t is not None else cb.mixed_threshold(a.model)


def own_threshold(identity: ModelIdentity) -> float | None:
    """The model's verification threshold for two of its own embeddings (with its flip)."""
    cfg = _config(identity.model)
    return None if cfg is None else cfg.verification_threshold(identity.flip)


def comparable(a: ModelIdentity, b: ModelIdentity) -> bool:
    """Same identity, or a declared harmonic pair."""
    return a == b or mixed_threshold(a, b) is not None


def check_comparable(gallery: ModelIdentity, other: ModelIdentity, what: str = "these embeddings") -> None:
    """ModelMismatchError naming both models unless ``other``'s embeddings may be compared with
    ``gallery``'s (the same identity, or a declared harmonic pair)."""
    if comparable(gallery, other):
        return
    try:
        gallery.check_same(other, what)
    except ModelMismatchError as exc:
        raise ModelMismatchError(f"{exc} (No harmonic compatibility is declared between them: a model's config "
                                 "lists the models it may be mixed with in compatible_with, for flip off.)") from None


def pair_threshold(query: ModelIdentity, face: ModelIdentity) -> tuple[float, str]:
    """(verification threshold of a (query, face) pair, its source). ModelMismatchError when the
    two are not comparable; UncalibratedError when a model has no threshold."""
    if query == face:
        t = own_threshold(query)
        if t is None:
            from facenet.errors import UncalibratedError

            raise UncalibratedError(f"Model {query.model!r} has no calibrated threshold to compare its faces with.")
        return float(t), f"{query.model}'s verification threshold"
    t = mixed_threshold(query, face)
    if t is None:
        check_comparable(face, query, what="the query embeddings")
    by = query.model if _config(query.model).mixed_threshold(face.model) is not None else face.model
    return float(t), f"mixed {query.model}/{face.model} pairs: {t:.4f}, declared by {by}: {MIXED_SOURCE}"


def pair_scale(reference: ModelIdentity, query: ModelIdentity, face: ModelIdentity) -> float:
    """The factor that puts a (query, face) distance onto ``reference``'s own scale:
    ``t(reference, reference) / t(query, face)`` (1 when all three are one model)."""
    if query == face == reference:
        return 1.0
    ref, _ = pair_threshold(reference, reference)
    t, _ = pair_threshold(query, face)
    return ref / t


def pair_kinds(reference: ModelIdentity, query: ModelIdentity,
               counts: dict[ModelIdentity, int]) -> tuple[dict[ModelIdentity, float], int, list[dict[str, Any]]]:
    """For a gallery of model ``reference`` whose faces were made by ``counts``' models (faces per
    model), queried by ``query``: (face model -> :func:`pair_scale`, number of faces, one dict per
    pair kind: query and face model names, scale, threshold = 1 / scale, its source)."""
    scales = {m: pair_scale(reference, query, m) for m in list(counts) or [reference]}
    kinds = [{"query": query.model, "faces": m.model, "scale": c, "threshold": 1.0 / c,
              "source": pair_threshold(query, m)[1]} for m, c in scales.items()]
    return scales, int(sum(counts.values())), kinds


def fit_mixed_threshold(new: np.ndarray, old: np.ndarray, a: np.ndarray, b: np.ndarray, same: np.ndarray) -> Any:
    """The best-accuracy threshold of mixed pairs, taken both ways round.

    new, old: (N, D) unit embeddings of the same N photos by the two models; a, b: (P,) indices of
    each pair's photos; same: (P,) bool labels. Pair p is scored twice, as (new[a], old[b]) and as
    (old[a], new[b]) (a gallery meets both: new queries against old faces, old queries against
    upgraded faces). Returns the fitted :class:`~facenet.eval.calibrate.ThresholdCalibrator`
    (``threshold_``, ``accuracy_``)."""
    from facenet.eval.calibrate import ThresholdCalibrator

    new, old = np.asarray(new, np.float32), np.asarray(old, np.float32)
    a, b, same = np.asarray(a), np.asarray(b), np.asarray(same, bool)
    if new.shape != old.shape or new.ndim != 2 or not (a.shape == b.shape == same.shape):
        raise ValueError(f"fit_mixed_threshold needs new and old of one shape (N, D) and a, b, same of one shape (P,). "
                         f"Got {new.shape}, {old.shape}, {a.shape}, {b.shape}, {same.shape} instead.")
    d = np.concatenate([((new[a] - old[b]) ** 2).sum(1), ((old[a] - new[b]) ** 2).sum(1)])
    return ThresholdCalibrator(target="accuracy").fit(np.clip(d, 0.0, 4.0), np.concatenate([same, same]))


class ModelBoundStore:
    """A gallery's store as a query model other than the gallery's sees it: faces enrolled through
    it without a model of their own (``NewFace.model`` None) are this model's. Everything else is
    the store's own (``identity`` stays the gallery's)."""

    def __init__(self, store: Any, model: ModelIdentity) -> None:
        self._store = store
        self.model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _bind(self, faces: Sequence[NewFace]) -> list[NewFace]:
        import dataclasses

        return [dataclasses.replace(f, model=self.model) if isinstance(f, NewFace) and f.model is None else f
                for f in faces]

    def add_faces(self, subject: str, faces: Sequence[NewFace], create: bool = True) -> list[int]:
        return self._store.add_faces(subject, self._bind(faces), create)

    def bulk_add(self, items: Any, *, rebuild_index: bool | None = None) -> int:
        return self._store.bulk_add(((s, self._bind(f)) for s, f in items), rebuild_index=rebuild_index)

    def __enter__(self) -> "ModelBoundStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self._store.close()


def partners(identity: ModelIdentity) -> list[ModelIdentity]:
    """The registered models ``identity``'s own config declares harmonic with (flip off), as
    identities; empty when it declares none or is not a plain registered model."""
    cfg = _config(identity.model)
    if cfg is None or identity.flip or not _registered(identity, cfg):
        return []
    out = []
    for name, _ in cfg.compatible_with:
        other = _config(name)
        if other is not None:
            sha = other.weights.sha256 if other.weights is not None else ""
            out.append(ModelIdentity(name, sha, int(other.embedding_size), False))
    return out


def mixed_subject_hits(face_search: Any, face_info: Any, q: np.ndarray, k: int, scales: dict[ModelIdentity, float],
                       n_faces: int) -> list[list[tuple[str, float, float]]]:
    """Per query, the k nearest people of a gallery holding faces of several models, each at its
    best face by *rescaled* distance (``d * scales[face model]``): (name, raw distance, that
    face's scale), rescaled-nearest first.

    face_search(q (Q, D), m) -> (distances (Q, m), face ids (Q, m), -1 padding): nearest faces by raw
    distance; face_info(ids) -> {id: (subject, model)}. Faces are fetched 4 k (16 at least) at a
    time, four times more until no face further away can beat the k-th person: a face at raw
    distance d rescales to at least d * min(scales), so once the last face fetched is that far past
    the k-th rescaled distance, the answer is exact (up to the index's own recall)."""
    c_min = min(scales.values()) if scales else 1.0
    out: list[list[tuple[str, float, float]]] = [[] for _ in range(len(q))]
    todo, fetch = list(range(len(q))), max(4 * k, 16)
    while todo:
        dist, ids = face_search(q[todo], min(fetch, max(n_faces, 1)))
        info = face_info(sorted({int(i) for i in np.asarray(ids).ravel() if i >= 0}))
        again = []
        for row, qi in enumerate(todo):
            best: dict[str, tuple[float, float]] = {}
            for d, fid in zip(dist[row], ids[row]):
                if fid < 0 or int(fid) not in info:
                    continue
                name, model = info[int(fid)]
                c = scales.get(model, 1.0)
                if name not in best or float(d) * c < best[name][0] * best[name][1]:
                    best[name] = (float(d), c)
            ranked = sorted(((n, d, c) for n, (d, c) in best.items()), key=lambda t: (t[1] * t[2], t[0]))[:k]
            kth = ranked[-1][1] * ranked[-1][2] if len(ranked) == k else float("inf")
            complete = fetch >= n_faces or float(dist[row, -1]) * c_min >= kth
            if complete:
                out[qi] = ranked
            else:
                again.append(qi)
        todo, fetch = again, fetch * 4
    return out
