"""The gallery's automatic identification threshold: it follows the number of people enrolled.

Where it comes from, in order:

1. an impostor model that ``facenet calibrate --gallery G`` fitted on the user's own labelled
   photos and stored in the gallery (meta ``identify_impostor_model``), else
2. the model shipped for the gallery's embedder (SFace, with or without flip: CelebA-wild; a model
   that records the weights it was fitted with is used only for those weights), else
3. the model shipped for a model the gallery's embedder is declared harmonic with (``fused``,
   ``fused-casia``: SFace's; with flip, SFace+flip's), its distances rescaled by the ratio of the
   two models' verification thresholds (:mod:`facenet.gallery.harmonic`), else
4. nothing: the gallery falls back to the model's verification threshold.

In a gallery holding faces of several models (an upgrade under way) the threshold is on the
gallery's own model's scale: the adaptation below reads only that model's faces (distances
between faces of two models follow another distribution), and the gallery rescales the other
pair kinds onto it.

Either model is then adapted to the gallery's own people (:func:`adapt_impostor_model`: every
enrolled face against the other people's faces gives the location and scale of non-mated
distances), and solved for the FPIR target at the gallery's size and faces per person. The
adaptation is recomputed only when the gallery has grown or shrunk by more than
``REFRESH_SHARE`` of its faces since the last one, from a seeded sample of ``ADAPT_SAMPLE``
faces (a million-face gallery is not read whole to open it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from facenet.gallery.impostor import SHIPPED_MODELS, ImpostorModel, adapt_impostor_model
from facenet.gallery.store import GalleryStore, ModelIdentity

#: Meta key of an impostor model stored by ``facenet calibrate --gallery``.
META_IMPOSTOR = "identify_impostor_model"
#: Faces read for the adaptation (its probes and comparisons are sampled from these).
ADAPT_SAMPLE = 6000
#: Share of faces added or removed after which the adaptation is computed again.
REFRESH_SHARE = 0.02


def shipped_model(identity: ModelIdentity) -> tuple[str, ImpostorModel] | None:
    """(name, model) of the shipped impostor model for this identity's embedder and flip, or None
    (also when the model records the weights it was fitted with and they are not this identity's:
    a retrained head needs its own calibration)."""
    name = identity.model + ("+flip" if identity.flip else "")
    if name not in SHIPPED_MODELS:
        return None
    m = ImpostorModel.shipped(name)
    sha = m.meta.get("weights_sha256")
    return (name, m) if not sha or sha == identity.weights_sha256 else None


def borrowed(identity: ModelIdentity) -> tuple[ImpostorModel, str] | None:
    """The shipped impostor model of a model ``identity`` is declared harmonic with, rescaled
    onto ``identity``'s distances (location and scale times t(own) / t(partner), the two
    verification thresholds), or None. With flip, the partner's flip model and both models'
    flip thresholds (harmonic pairs are declared for plain embeddings; borrowing a distance
    distribution's shape needs no mixing, so flip galleries borrow too)."""
    from facenet.gallery.harmonic import own_threshold, partners

    own = own_threshold(identity)
    for other in partners(replace(identity, flip=False)):
        other = replace(other, flip=identity.flip)
        shipped, t = shipped_model(other), own_threshold(other)
        if shipped is None or own is None or not t:
            continue
        name, c = shipped[0], own / t
        return shipped[1].rescaled(c), f"shipped for {name} (CelebA-wild), rescaled x{c:.3f} to {identity.model} (harmonic)"
    return None


@dataclass
class _Adapted:
    n_faces: int
    model: ImpostorModel
    base: str
    identity: ModelIdentity


class AutoThreshold:
    """``auto(n_subjects, n_faces, fpir) -> (threshold, where it comes from)`` for one store.

    Returns None when there is no impostor model (neither stored nor shipped).
    """

    def __init__(self, store: GalleryStore) -> None:
        self.store = store
        self._cache: _Adapted | None = None

    def base_model(self) -> tuple[ImpostorModel, str] | None:
        """(the impostor model before adaptation, a description), or None."""
        raw = self.store.get_meta(META_IMPOSTOR)
        if raw:
            m = ImpostorModel.from_dict(json.loads(raw))
            return m, f"calibrated on {m.meta.get('source', 'your photos')}"
        shipped = shipped_model(self.store.identity)
        if shipped is None:
            return borrowed(self.store.identity)
        return shipped[1], f"shipped for {shipped[0]} (CelebA-wild)"

    def _adapted(self, n_faces: int) -> _Adapted | None:
        c = self._cache
        if (c is not None and c.identity == self.store.identity
                and abs(n_faces - c.n_faces) <= REFRESH_SHARE * max(c.n_faces, 1)):
            return c
        base = self.base_model()
        if base is None:
            return None
        model, desc = base
        identity = self.store.identity
        if n_faces:  # a seeded sample of the gallery model's faces: adaptation compares at most ADAPT_SAMPLE anyway
            _, emb, owners = self.store.sample_embeddings(ADAPT_SAMPLE, model=identity)
            model = adapt_impostor_model(model, emb, owners)
        self._cache = _Adapted(n_faces, model, desc, identity)
        return self._cache

    def invalidate(self) -> None:
        """Forget the adaptation (a new calibration was stored)."""
        self._cache = None

    def __call__(self, n_subjects: int, n_faces: int, fpir: float) -> tuple[float, str] | None:
        a = self._adapted(n_faces)
        if a is None:
            return None
        n = max(int(n_subjects), 1)
        per = max(n_faces / n, 1.0) if n_subjects else 1.0
        t = a.model.threshold(n, fpir, per)
        adapted = a.model.meta.get("adapted")
        how = (f"adapted to this gallery's {adapted['subjects']} people" if adapted
               else "not adapted: fewer than 20 people enrolled")
        return float(t), f"automatic: FPIR {fpir:g} for {n_subjects} enrolled people (impostor model {a.base}, {how})"

    def describe(self) -> dict[str, Any]:
        """What the automatic threshold rests on (for ``gallery stats``)."""
        base = self.base_model()
        a = self._cache
        return {"base": None if base is None else base[1],
                "adapted": None if a is None else a.model.meta.get("adapted")}
