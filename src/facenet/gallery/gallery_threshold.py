"""The identification threshold of a :class:`facenet.gallery.gallery.Gallery` (:class:`GalleryThreshold`,
a part of it): fixed by the user, or following the gallery's size through its impostor model; the
stored verification calibration; and the pair kinds of a gallery that holds several models' faces."""

from __future__ import annotations

import json
from typing import Any, Callable

from facenet.gallery.auto_threshold import META_IMPOSTOR
from facenet.gallery.harmonic import pair_kinds
from facenet.gallery.store import GalleryStore, ModelIdentity
from facenet.gallery.upgrade import DEFAULT_FPIR, META_FPIR, META_THRESHOLD, META_THRESHOLD_SOURCE, META_VERIFICATION
from facenet.validation import check_scalar


class GalleryThreshold:
    """The threshold half of a Gallery; it needs ``store``, ``identity``, ``query_identity`` and
    ``_auto`` (the automatic threshold) from it."""

    store: GalleryStore
    query_identity: ModelIdentity
    _auto: Callable[[int, int, float], tuple[float, str] | None] | None
    _threshold_cache: tuple[tuple[int, str, str, str], tuple[float, str]] | None = None
    _kinds_cache: tuple[tuple[int, ModelIdentity], Any] | None = None

    @property
    def identity(self) -> ModelIdentity:
        return self.store.identity

    def threshold(self) -> tuple[float, str]:
        """(squared-L2 identification threshold, where it comes from), on the scale of the
        gallery's own model. A threshold set with :meth:`set_threshold` wins; otherwise it follows
        the gallery's size (computed once per change of the gallery). A comparison of another
        kind (a harmonic query model, faces of another model) uses it divided by that kind's
        :meth:`pair_kinds` scale; the source says so."""
        fixed = self.store.get_meta(META_THRESHOLD)
        if fixed:
            value = float(fixed), self.store.get_meta(META_THRESHOLD_SOURCE) or "set by the user"
        else:
            fpir_raw = self.store.get_meta(META_FPIR) or ""
            key = (self.store.generation(), fpir_raw, self.store.get_meta(META_VERIFICATION) or "",
                   self.store.get_meta(META_IMPOSTOR) or "")
            if self._threshold_cache is None or self._threshold_cache[0] != key:
                self._threshold_cache = (key, self._threshold_now(float(fpir_raw or DEFAULT_FPIR)))
            value = self._threshold_cache[1]
        kinds = self.pair_kinds()
        if any(k["scale"] != 1.0 for k in kinds):
            per = "; ".join(f"{k['query']} queries vs {k['faces']} faces: {k['threshold'] * value[0]:.4f} "
                            f"({k['source']})" for k in kinds)
            value = (value[0], f"{value[1]}; on {self.identity.model}'s scale, per pair kind: {per}")
        return value

    def _kinds(self) -> tuple[dict[ModelIdentity, float], int, list[dict[str, Any]]]:
        """(face model -> scale, number of faces, pair_kinds()), cached per change of the gallery."""
        key = (self.store.generation(), self.identity)
        if self._kinds_cache is None or self._kinds_cache[0] != key:
            self._kinds_cache = (key, pair_kinds(self.identity, self.query_identity, self.store.model_counts()))
        return self._kinds_cache[1]

    def pair_kinds(self) -> list[dict[str, Any]]:
        """Each kind of comparison this gallery makes for its query model (one per model that
        made a face): query and face model names, ``scale`` (the factor putting such a distance
        onto the gallery model's scale: t(gallery model's own pairs) / t(this kind), the
        verification thresholds), ``threshold`` (1 / scale: the share of the identification
        threshold a raw distance of that kind must stay under) and where t(this kind) comes from."""
        return [dict(k) for k in self._kinds()[2]]

    def _threshold_now(self, fpir: float) -> tuple[float, str]:
        n, n_faces = self.store.counts()
        auto = self._auto(n, n_faces, fpir) if self._auto is not None else None
        if auto is not None:
            return auto
        stored = self.verification_calibration()
        if stored is not None:
            return float(stored["threshold"]), f"verification threshold calibrated on {stored.get('source', 'your pairs')}"
        from facenet.models.registry import model_config

        cfg = model_config(self.identity.model)
        t = cfg.verification_threshold(self.identity.flip)
        if t is None:
            from facenet.errors import UncalibratedError

            raise UncalibratedError(f"Model {self.identity.model!r} has no calibrated threshold; set one for this "
                                    "gallery (`facenet calibrate --gallery G`) or pass --threshold.")
        return float(t), "the model's verification threshold"

    def set_threshold(self, threshold: float | None, source: str = "set by the user") -> None:
        """Fix the identification threshold (None: back to automatic)."""
        if threshold is None:
            self.store.set_meta(META_THRESHOLD, "")
            return
        t = check_scalar(threshold, "threshold", float, min_val=0.0, max_val=4.0, include="neither", owner="set_threshold")
        self.store.set_meta(META_THRESHOLD, repr(t))
        self.store.set_meta(META_THRESHOLD_SOURCE, source)

    def set_fpir(self, fpir: float) -> None:
        """The false-positive identification rate the automatic threshold aims at (default 1e-2)."""
        f = check_scalar(fpir, "fpir", float, min_val=0.0, max_val=1.0, include="neither", owner="set_fpir")
        self.store.set_meta(META_FPIR, repr(f))

    def verification_calibration(self) -> dict[str, Any] | None:
        """The verification threshold ``facenet calibrate --gallery`` stored (threshold, far,
        tar, accuracy, target, source, model), or None. ``facenet verify --gallery G`` uses it."""
        raw = self.store.get_meta(META_VERIFICATION)
        return json.loads(raw) if raw else None

    def store_calibration(self, verification: dict[str, Any], impostor_model: Any = None) -> None:
        """Keep a calibration with the gallery: the verification threshold (a dict with at least
        ``threshold``) and, when given, the impostor model fitted on the same photos (an
        :class:`~facenet.gallery.impostor.ImpostorModel`) for the automatic identification
        threshold. Refused when it was made with another model than the gallery's."""
        check_scalar(verification.get("threshold"), "threshold", float, min_val=0.0, max_val=4.0,
                     include="neither", owner="store_calibration")
        made_by = verification.get("model")
        if made_by is not None:
            ModelIdentity.from_dict(made_by).check_same(self.identity, what="this calibration")
        self.store.set_meta(META_VERIFICATION, json.dumps(verification, sort_keys=True))
        if impostor_model is not None:
            self.store.set_meta(META_IMPOSTOR, json.dumps(impostor_model.to_dict(), separators=(",", ":")))
        self._threshold_cache = None
        invalidate = getattr(self._auto, "invalidate", None)
        if invalidate is not None:
            invalidate()
