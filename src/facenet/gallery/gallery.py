"""A persistent recognition gallery: enrol people from one photo or more, identify every face of a
photo with an honest "unknown".

>>> g = Gallery.open("people.gallery", model="sface")  # SQLite file (or a postgresql:// URL)
>>> g.enroll("Ada", ["ada1.jpg", "ada2.jpg"])          # one face per photo; photos kept, not averaged
>>> g.identify("door.jpg")                             # every face: box, name or "unknown", top-k

The gallery stores which model made its embeddings (:class:`ModelIdentity`) and refuses another,
unless the two are declared harmonic (:mod:`facenet.gallery.harmonic`: ``fused`` queries and faces
in an SFace gallery): then every face keeps its own model, each comparison uses the threshold of
its pair kind, and :meth:`Gallery.upgrade` re-embeds the faces with the new model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facenet.data.images import ImageInput, describe_source
from facenet.errors import FacenetError, ItemError
from facenet.gallery.auto_threshold import META_IMPOSTOR
from facenet.gallery.backends import exact_face_hits, exact_subject_hits
from facenet.gallery.harmonic import ModelBoundStore, check_comparable, mixed_subject_hits, pair_kinds
from facenet.gallery.results import UNKNOWN, Candidate, EnrolResult, Identification, ImageIdentification
from facenet.gallery.store import GalleryStore, ModelIdentity, NewFace, SubjectNotFoundError, photo_sha256
from facenet.gallery.upgrade import (  # the gallery's meta keys, beside the upgrade that rewrites them
    DEFAULT_FPIR,
    META_FPIR,
    META_THRESHOLD,
    META_THRESHOLD_SOURCE,
    META_VERIFICATION,
    upgrade_gallery,
)
from facenet.pipeline import FacePipeline
from facenet.validation import check_scalar


def identity_of(pipeline: FacePipeline) -> ModelIdentity:
    """The :class:`ModelIdentity` of the embeddings ``pipeline`` makes."""
    cfg = pipeline.embedder.config
    sha = cfg.weights.sha256 if cfg.weights is not None else ""
    return ModelIdentity(model=cfg.name, weights_sha256=sha, embedding_size=int(cfg.embedding_size), flip=bool(pipeline.flip))


class Gallery:
    """Enrolled people and their faces, over a :class:`GalleryStore` (SQLite or PostgreSQL).

    store: the backend. pipeline: makes the embeddings (its identity must be the store's, or
        declared harmonic with it and with every model that made a face there).
    search: ``search(queries (Q, D), k) -> per query [(name, distance of their nearest face)]``,
        the k nearest people, with a ``faces(queries, k) -> (distances (Q, k), face ids (Q, k))``
        method for galleries holding several models' faces (a FAISS index for SQLite, the
        pgvector index for PostgreSQL, :mod:`facenet.gallery.backends`); default: exact.
    query_model: without a pipeline, the model of the embeddings this object identifies and
        enrols (default: the gallery's own); with one, the pipeline's.
    auto_threshold: ``auto_threshold(n_subjects, n_faces, fpir) -> (threshold, source) | None``,
        the identification threshold for a gallery of that size
        (:class:`~facenet.gallery.auto_threshold.AutoThreshold`, what :func:`open_gallery` passes);
        None, or when it returns None: the model's verification threshold.
    """

    def __init__(self, store: GalleryStore, pipeline: FacePipeline | None = None, search: Any = None,
                 auto_threshold: Callable[[int, int, float], tuple[float, str] | None] | None = None, *,
                 query_model: ModelIdentity | None = None) -> None:
        if pipeline is not None and query_model is not None and identity_of(pipeline) != query_model:
            raise ValueError("The 'query_model' parameter of Gallery must be the pipeline's identity when both are given.")
        query = identity_of(pipeline) if pipeline is not None else query_model or store.identity
        for made_by in (store.identity, *store.model_counts()):
            check_comparable(made_by, query, what="the pipeline's embeddings")
        #: The model of the queries and of the faces enrolled through this gallery object.
        self.query_identity = query
        self.store: GalleryStore = store if query == store.identity else ModelBoundStore(store, query)  # type: ignore[assignment]
        self._pipeline = pipeline
        self._search = search
        self._auto = auto_threshold
        self._threshold_cache: tuple[tuple[int, str, str, str], tuple[float, str]] | None = None
        self._kinds_cache: tuple[tuple[int, ModelIdentity], Any] | None = None

    @classmethod
    def open(cls, location: str | Path, model: str | FacePipeline | None = None, *, flip: bool | None = None,
             create: bool = True) -> "Gallery":
        """The gallery at ``location`` (a file path: SQLite; a ``postgresql://`` URL: PostgreSQL +
        pgvector), created for ``model`` when missing and ``create``.

        model: the embedder's name (``"sface"``; with ``flip``) or a ready :class:`FacePipeline`;
            its model must be the gallery's or declared harmonic with it (flip off), else
            ModelMismatchError naming both. None: the gallery's own model (built when a photo
            needs embedding).
        Raises GalleryError for a location that is not a gallery (or missing, without ``create``).
        """
        from facenet.gallery.auto_threshold import AutoThreshold
        from facenet.gallery.backends import create_store, gallery_exists, open_or_create_store, open_store, search_for
        from facenet.gallery.store import GalleryError

        if isinstance(model, str):
            pipeline: FacePipeline | None = FacePipeline(embedder=model, flip=bool(flip))
        elif model is None or isinstance(model, FacePipeline):
            pipeline = model
        else:
            raise TypeError(f"The 'model' parameter of Gallery.open must be a model name, a FacePipeline or None. "
                            f"Got {type(model).__name__} instead.")
        if create and pipeline is not None:  # race-free between processes: one creates, the others open
            store = open_or_create_store(location, identity_of(pipeline))
        elif gallery_exists(location):
            store = open_store(location, identity_of(pipeline) if pipeline is not None else None)
        elif create:
            if pipeline is None:
                raise GalleryError(f"No gallery at {location}; creating one needs the model to make it with.")
            store = create_store(location, identity_of(pipeline))
        else:
            raise GalleryError(f"No gallery at {location} (enrol someone first: facenet enroll --gallery {location} "
                               "--name NAME PHOTO).")
        try:
            return cls(store, pipeline, search=search_for(store, location), auto_threshold=AutoThreshold(store))
        except BaseException:
            store.close()
            raise

    @property
    def identity(self) -> ModelIdentity:
        return self.store.identity

    @property
    def pipeline(self) -> FacePipeline:
        """The pipeline that embeds photos for this gallery (built from the gallery's own model
        identity when none was given)."""
        if self._pipeline is None:
            p = FacePipeline(embedder=self.query_identity.model, flip=self.query_identity.flip)
            self.query_identity.check_same(identity_of(p), what="the pipeline's embeddings")
            self._pipeline = p
        return self._pipeline

    # ------------------------------------------------------------------ threshold

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
        subs = self.store.subjects()
        n, n_faces = len(subs), int(sum(s.n_faces for s in subs))
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

    # ------------------------------------------------------------------ enrolment

    def enroll(self, name: str, images: ImageInput | Sequence[ImageInput], *, face: str | int = "single") -> EnrolResult:
        """Enrol ``name`` from photos, one face each, all in one transaction.

        face: "single" (default): a photo must hold exactly one face; "largest": the largest
            face of each photo; an int: that face (0 = highest detector score) of each photo.
        A photo with no face (the centre-crop fallback is never enrolled), with several faces
        under "single", or unreadable is refused in ``errors``; the others are enrolled. A photo
        this person already has (same SHA-256) is a no-op, listed in ``already_enrolled``.
        """
        batch = list(images) if isinstance(images, (list, tuple)) else [images]
        known = {f.photo_sha256 for f in self._faces_or_empty(name)}
        new, errors, again = [], [], []
        for i, src in enumerate(batch):
            where = describe_source(src)
            try:
                sha = photo_sha256(src)
                if sha in known:
                    again.append(where)
                    continue
                emb, box = self._one_face(src, face)
            except (FacenetError, OSError) as exc:
                errors.append(ItemError(i, where, getattr(exc, "reason", None) or str(exc)))
                continue
            known.add(sha)
            new.append(NewFace(embedding=emb, photo_sha256=sha, box=tuple(float(v) for v in box), source=where,
                               model=self.query_identity))
        added = self.add_faces(name, new) if new else []
        return EnrolResult(name, tuple(added), tuple(again), tuple(errors))

    def add_faces(self, name: str, faces: Sequence[NewFace]) -> list[int]:
        """Add faces as they are (``store.add_faces``: one transaction, photos already enrolled
        skipped), the search index following the change in memory when it can (no rebuild)."""
        before = self.store.generation()
        added = self.store.add_faces(name, faces)
        follow = getattr(self._search, "follow", None)
        if follow is not None and len(added) == len(faces):
            emb = np.stack([f.embedding for f in faces]) if faces else np.zeros((0, self.identity.embedding_size), np.float32)
            follow(added, emb, name, before, self.store.generation())
        return added

    def _faces_or_empty(self, name: str) -> list[Any]:
        try:
            return self.store.faces(name)
        except SubjectNotFoundError:
            return []

    def _one_face(self, src: ImageInput, face: str | int) -> tuple[np.ndarray, np.ndarray]:
        from facenet.errors import InvalidImageError

        faces = self.pipeline.crop_all(src)
        k = len(faces)
        where = describe_source(src)
        if k == 0:
            raise InvalidImageError(where, "no face found (a photo must show the person's face to enrol it)")
        if face == "single":
            if k > 1:
                raise InvalidImageError(where, f"{k} faces found; enrol from a photo of one person, or pick one "
                                               "with --largest / --face I")
            j = 0
        elif face == "largest":
            j = int(np.argmax(faces.detections.areas))
        elif isinstance(face, int) and not isinstance(face, bool):
            if not 0 <= face < k:
                raise InvalidImageError(where, f"--face {face} asked for, but the photo has {k} face(s) (0..{k - 1})")
            j = face
        else:
            raise ValueError(f"The 'face' parameter of enroll must be 'single', 'largest' or an int. Got {face!r} instead.")
        emb = self.pipeline.embed_faces(faces.crops[j : j + 1])[0]
        return emb, faces.detections.boxes[j]

    def add_embeddings(self, name: str, embeddings: np.ndarray, identity: ModelIdentity, sources: Sequence[str] = (),
                       photo_sha256s: Sequence[str] = ()) -> list[int]:
        """Enrol bare embeddings (N, D) made by ``identity`` (refused when it is neither the
        gallery's nor declared harmonic with it)."""
        check_comparable(self.identity, identity)
        e = np.asarray(embeddings, np.float32).reshape(-1, self.identity.embedding_size)
        faces = [NewFace(embedding=v, photo_sha256=photo_sha256s[i] if i < len(photo_sha256s) else "",
                         source=sources[i] if i < len(sources) else "", model=identity) for i, v in enumerate(e)]
        return self.add_faces(name, faces)

    # ------------------------------------------------------------------ identification

    def identify_embeddings(self, embeddings: np.ndarray, k: int = 5,
                            boxes: np.ndarray | None = None) -> list[Identification]:
        """Identify (Q, D) unit embeddings of the query model: the nearest person per query,
        ``unknown`` above the threshold, and the top-k people (one entry per person, at the
        distance of their nearest face) nearest first.

        Distances are raw squared L2. Where the query model or a face's model is not the
        gallery's (harmonic models), each distance is ranked and decided on the gallery model's
        scale (:meth:`pair_kinds`), so an Identification's ``threshold`` is the one of its nearest
        person's pair kind."""
        k = check_scalar(k, "k", int, min_val=1, owner="identify")
        q = np.asarray(embeddings, np.float32).reshape(-1, self.identity.embedding_size)
        threshold, _ = self.threshold()
        if len(q) == 0:
            return []
        scales, n_faces, _ = self._kinds()
        if len(scales) > 1:  # faces of several models: rank on one scale
            hits = mixed_subject_hits(self._face_hits, self.store.face_info, q, k, scales, n_faces)
        else:
            c = next(iter(scales.values()))
            hits = [[(n, d, c) for n, d in row] for row in self._subject_hits(q, k)]
        out = []
        for i in range(len(q)):
            cands = tuple(Candidate(n, float(d)) for n, d, _ in hits[i][:k])
            name, d, c = hits[i][0] if hits[i] else (UNKNOWN, float("inf"), min(scales.values()))
            t = threshold / c  # this pair kind's threshold for a raw distance
            box = (float("nan"),) * 4 if boxes is None else tuple(float(v) for v in boxes[i])
            out.append(Identification(name if d < t else UNKNOWN, float(d), float(t), cands, box))
        return out

    def _face_hits(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest faces per query: (distances (Q, k), face ids (Q, k))."""
        faces = getattr(self._search, "faces", None)
        return faces(q, k) if faces is not None else exact_face_hits(self.store, q, k)

    def _subject_hits(self, q: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Per query, the k nearest people as (name, distance), nearest first."""
        if self._search is not None:
            return self._search(q, k)
        return exact_subject_hits(self.store, q, k)

    def identify(self, images: ImageInput | Sequence[ImageInput], k: int = 5) -> list[ImageIdentification]:
        """Every face in every photo, identified (a photo with no face gives an empty list)."""
        batch = list(images) if isinstance(images, (list, tuple)) else [images]
        out = []
        for src in batch:
            faces = self.pipeline.crop_all(src)
            emb = self.pipeline.embed_faces(faces.crops)
            out.append(ImageIdentification(describe_source(src), tuple(self.identify_embeddings(emb, k, faces.detections.boxes))))
        return out

    # ------------------------------------------------------------------ management

    def subjects(self) -> list[Any]:
        return self.store.subjects()

    def faces(self, name: str) -> list[Any]:
        return self.store.faces(name)

    def rename(self, old: str, new: str) -> None:
        self.store.rename(old, new)

    def merge(self, source: str, target: str) -> int:
        return self.store.merge(source, target)

    def remove(self, name: str) -> int:
        return self.store.remove_subject(name)

    def stats(self) -> dict[str, Any]:
        """Sizes, the model, and the identification threshold with where it comes from."""
        subs = self.store.subjects()
        threshold, source = self.threshold()
        models = [{"model": m.model, "identity": m.to_dict(), "faces": n} for m, n in self.store.model_counts().items()]
        return {"location": self.store.location, "model": self.identity.to_dict(), "subjects": len(subs),
                "faces": int(sum(s.n_faces for s in subs)), "faces_by_model": models,
                "threshold": threshold, "threshold_source": source,
                "fpir_target": float(self.store.get_meta(META_FPIR) or DEFAULT_FPIR),
                "verification": self.verification_calibration(), "generation": self.store.generation()}

    def upgrade(self, photo_dirs: Sequence[str | Path], **kwargs: Any) -> Any:
        """Re-embed faces of other models with this gallery's query model, from their photos
        under ``photo_dirs`` (:func:`facenet.gallery.upgrade.upgrade_gallery`). When the gallery's
        model changes, what was calibrated with the old one goes (the stored verification
        calibration and impostor model) and a fixed threshold is rescaled by the ratio of the two
        models' verification thresholds; the report's ``notes`` say so."""
        return upgrade_gallery(self, photo_dirs, **kwargs)

    def close(self) -> None:
        flush = getattr(self._search, "flush", None)
        if flush is not None:
            flush()
        self.store.close()

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
