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

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facenet.data.images import ImageInput, describe_source
from facenet.errors import FacenetError, ItemError
from facenet.gallery.backends import exact_face_hits, exact_subject_hits
from facenet.gallery.gallery_threshold import GalleryThreshold
from facenet.gallery.harmonic import ModelBoundStore, check_comparable, mixed_subject_hits
from facenet.gallery.results import UNKNOWN, Candidate, EnrolResult, Identification, ImageIdentification
from facenet.gallery.store import GalleryStore, ModelIdentity, NewFace, SubjectNotFoundError, photo_sha256
from facenet.gallery.upgrade import DEFAULT_FPIR, META_FPIR, upgrade_gallery
from facenet.pipeline import FacePipeline
from facenet.validation import check_scalar


def identity_of(pipeline: FacePipeline) -> ModelIdentity:
    """The :class:`ModelIdentity` of the embeddings ``pipeline`` makes."""
    cfg = pipeline.embedder.config
    sha = cfg.weights.sha256 if cfg.weights is not None else ""
    return ModelIdentity(model=cfg.name, weights_sha256=sha, embedding_size=int(cfg.embedding_size), flip=bool(pipeline.flip))


class Gallery(GalleryThreshold):
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
        self._threshold_cache = None
        self._kinds_cache = None

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
    def pipeline(self) -> FacePipeline:
        """The pipeline that embeds photos for this gallery (built from the gallery's own model
        identity when none was given)."""
        if self._pipeline is None:
            p = FacePipeline(embedder=self.query_identity.model, flip=self.query_identity.flip)
            self.query_identity.check_same(identity_of(p), what="the pipeline's embeddings")
            self._pipeline = p
        return self._pipeline

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
        skipped), the search index following the change in memory when it can (no rebuild).
        A face's model (None: this gallery's query model) must be comparable with the gallery's."""
        for model in {f.model for f in faces if isinstance(f, NewFace) and f.model is not None}:
            check_comparable(self.identity, model)
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
        """Rename a person; the search index relabels their faces (no rebuild)."""
        before = self.store.generation()
        self.store.rename(old, new)
        self._follow(before, relabel={old.strip(): new.strip()})

    def merge(self, source: str, target: str) -> int:
        """Move every face of ``source`` into ``target`` (photos ``target`` has already are
        dropped); the index relabels them and masks the dropped ones (no rebuild)."""
        faces = {f.face_id for f in self.store.faces(source)}
        before = self.store.generation()
        moved = self.store.merge(source, target)
        dropped = faces - {f.face_id for f in self._faces_or_empty(target)}
        self._follow(before, exact=moved + len(dropped) == len(faces), removed=dropped,
                     relabel={source.strip(): target.strip()})
        return moved

    def remove(self, name: str) -> int:
        """Remove a person and their faces; the index masks them (no rebuild below
        ``IndexOptions.max_removed_share`` removed)."""
        faces = [f.face_id for f in self.store.faces(name)]
        before = self.store.generation()
        n = self.store.remove_subject(name)
        self._follow(before, exact=n == len(faces), removed=faces)
        return n

    def remove_faces(self, face_ids: Sequence[int]) -> int:
        """Remove faces by id (unknown ids are ignored); the index masks them. Returns how many."""
        ids = sorted(self.store.face_info(sorted({int(i) for i in face_ids})))  # the ones that exist
        before = self.store.generation()
        n = self.store.remove_faces(ids)
        self._follow(before, exact=n == len(ids), removed=ids)
        return n

    def _index(self) -> Any:
        """The FAISS index of a SQLite gallery (None for PostgreSQL, whose index is pgvector's)."""
        return getattr(self._search, "index", None)

    def _follow(self, before: int, exact: bool = True, **change: Any) -> None:
        """Have the index follow the store write just made (generation ``before`` -> now) that
        did ``change`` (FaceIndex.follow); when ``exact`` is False the write did more than that
        (another process in between), so it catches up with the store instead."""
        index = self._index()
        if index is None:
            return
        if exact:
            index.follow(before=before, after=self.store.generation(), store=self.store, **change)
        else:
            index.sync(self.store)

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Rebuild the search index from the database with the current settings and save it (an
        index file made with other settings is otherwise used as it is). progress(faces, total)
        while it builds. Returns the index's description (:meth:`FaceIndex.describe`)."""
        from facenet.errors import UsageError

        index = self._index()
        if index is None:
            raise UsageError(f"{self.store.location} has no FAISS index to rebuild (a PostgreSQL gallery's pgvector "
                             "index is kept by the server).")
        return index.reindex(self.store, progress)

    def stats(self) -> dict[str, Any]:
        """Sizes, the model, the identification threshold with where it comes from, and the search
        index (kind, settings, whether they are the current ones; None for PostgreSQL)."""
        n_subjects, n_faces = self.store.counts()
        threshold, source = self.threshold()
        models = [{"model": m.model, "identity": m.to_dict(), "faces": n} for m, n in self.store.model_counts().items()]
        return {"location": self.store.location, "model": self.identity.to_dict(), "subjects": n_subjects,
                "faces": n_faces, "faces_by_model": models,
                "threshold": threshold, "threshold_source": source,
                "fpir_target": float(self.store.get_meta(META_FPIR) or DEFAULT_FPIR),
                "verification": self.verification_calibration(), "generation": self.store.generation(),
                "index": None if self._index() is None else self._index().describe()}

    def upgrade(self, photo_dirs: Sequence[str | Path], **kwargs: Any) -> Any:
        """Re-embed faces of other models with this gallery's query model, from their photos
        under ``photo_dirs`` (:func:`facenet.gallery.upgrade.upgrade_gallery`). When the gallery's
        model changes, what was calibrated with the old one goes (the stored verification
        calibration and impostor model) and a fixed threshold is rescaled by the ratio of the two
        models' verification thresholds; the report's ``notes`` say so."""
        return upgrade_gallery(self, photo_dirs, **kwargs)

    def close(self) -> None:
        """Save the index when it changed in memory (so the next process opens it from the file), close the store."""
        flush = getattr(self._search, "flush", None)
        if flush is not None:
            flush()
        index = self._index()
        if index is not None and hasattr(index, "flush"):
            index.flush(self.store)
        self.store.close()

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
