"""The state of one running service: the gallery (one per process, every access under one lock,
so concurrent enrol and identify stay consistent), the inference pool, the API keys, the
thumbnails and the cluster jobs. Inference runs outside the gallery lock; only the short
database and index steps are serialised."""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Callable

import numpy as np

from facenet.service.config import ServiceConfig
from facenet.service.errors import ApiError
from facenet.service.keys import KeyStore
from facenet.service.pool import InferencePool
from facenet.service.thumbnails import ThumbnailStore


def default_pipeline_factory(config: ServiceConfig) -> Callable[[], Any]:
    """A factory of pipelines for ``config``: its --embedder/--flip when given, else the
    existing gallery's own model, else SFace without flip."""
    from facenet.gallery.open import gallery_exists, read_identity
    from facenet.pipeline import FacePipeline

    embedder, flip = config.embedder, config.flip
    if (embedder is None or flip is None) and gallery_exists(config.gallery):
        ident = read_identity(config.gallery)
        embedder = embedder or ident.model
        flip = ident.flip if flip is None else flip
    name, fl = embedder or "sface", bool(flip)
    return lambda: FacePipeline(detector=config.detector, embedder=name, flip=fl, max_pixels=config.max_pixels)


def pick_face(boxes: np.ndarray, face: int | None, box: tuple[float, float, float, float] | None) -> int:
    """Which face of a photo to enrol: index ``face``, the one overlapping ``box`` most, or the
    only one (ApiError 422 when none, several without a choice, or an index out of range)."""
    k = len(boxes)
    if k == 0:
        raise ApiError(422, "no_face", "no face found in the photo")
    if face is not None:
        if not 0 <= face < k:
            raise ApiError(422, "no_such_face", f"face {face} asked for, but the photo has {k} face(s) (0..{k - 1})")
        return face
    if box is not None:
        from facenet.detect.nms import iou as box_iou

        iou = box_iou(np.asarray(box, np.float64).reshape(1, 4), np.asarray(boxes).reshape(-1, 4))[0]  # (K,)
        j = int(np.argmax(iou))
        if iou[j] <= 0:
            raise ApiError(422, "no_such_face", "no detected face overlaps the given box")
        return j
    if k > 1:
        raise ApiError(422, "several_faces", f"{k} faces found; say which one with 'face' (0..{k - 1}) or 'box'")
    return 0


class Service:
    """Everything a request handler needs. ``pipeline_factory`` builds a pipeline (one per
    inference thread, plus one here for the gallery's model check)."""

    def __init__(self, config: ServiceConfig, pipeline_factory: Callable[[], Any] | None = None) -> None:
        from facenet.gallery.gallery import identity_of
        from facenet.gallery.open import open_gallery

        self.config = config
        self.keys = KeyStore(config.keys)
        from facenet.service.auth import RateLimiter

        self.limiter = RateLimiter(config.rate_limit)
        factory = pipeline_factory or default_pipeline_factory(config)
        self.pipeline = factory()
        self.identity = identity_of(self.pipeline)
        self.gallery = open_gallery(config.gallery, self.pipeline, create=True)
        self.lock = threading.RLock()
        uid = self.gallery.store.get_meta("gallery_uid") or hashlib.sha256(config.gallery.encode()).hexdigest()[:16]
        self.thumbs = ThumbnailStore(config.thumbnails_dir() / uid)
        self.pool = InferencePool(factory, config.workers, config.queue, config.request_timeout)
        from facenet.service.jobs import JobManager

        self.jobs = JobManager(self, factory)

    def close(self) -> None:
        self.jobs.close()
        self.pool.close()
        with self.lock:
            self.gallery.close()

    # ---------------------------------------------------------------- inference (on a pool thread)

    def identify(self, pipeline: Any, img: np.ndarray, k: int) -> dict[str, Any]:
        faces = pipeline.crop_all(img)
        emb = pipeline.embed_faces(faces.crops)
        with self.lock:
            threshold, source = self.gallery.threshold()
            results = self.gallery.identify_embeddings(emb, k, faces.detections.boxes) if len(emb) else []
        out = []
        for r in results:
            d = r.to_dict()
            out.append({"box": d["box"], "name": r.name if r.known else None, "distance": d["distance"],
                        "candidates": d["candidates"]})
        return {"threshold": round(float(threshold), 6), "threshold_source": source, "width": int(img.shape[1]),
                "height": int(img.shape[0]), "faces": out}

    def enrol_face(self, pipeline: Any, name: str, img: np.ndarray, photo_sha: str, face: int | None,
                   box: tuple[float, float, float, float] | None, source: str = "upload") -> dict[str, Any]:
        """Enrol one face of a photo for ``name`` (created when missing); 409 when this person
        already has this photo. The face is recorded as made by ``pipeline``'s model (the gallery
        refuses one it cannot compare)."""
        from facenet.gallery.gallery import identity_of
        from facenet.gallery.store import NewFace, check_subject_name

        name = check_subject_name(name, "name", "enrol")
        faces = pipeline.crop_all(img)
        j = pick_face(faces.detections.boxes, face, box)
        emb = pipeline.embed_faces(faces.crops[j: j + 1])[0]
        b = tuple(float(v) for v in faces.detections.boxes[j])
        with self.lock:
            ids = self.gallery.add_faces(name, [NewFace(emb, photo_sha, b, source, model=identity_of(pipeline))])
            if not ids:
                raise ApiError(409, "already_enrolled", f"{name!r} already has this photo")
            self.thumbs.put(ids[0], faces.crops[j])
        return {"face_id": int(ids[0]), "subject": name, "box": [round(v, 2) for v in b]}

    # ---------------------------------------------------------------- the gallery (no inference)

    def subjects(self) -> list[dict[str, Any]]:
        with self.lock:
            subs = self.gallery.subjects()
            faces = self.gallery.store.faces() if subs else []
        by: dict[str, list[int]] = {}
        for f in faces:
            by.setdefault(f.subject, []).append(int(f.face_id))
        return [{"name": s.name, "n_faces": int(s.n_faces),
                 "faces": [{"id": fid, "thumbnail_url": f"/api/v1/faces/{fid}/thumbnail", "has_thumbnail": self.thumbs.has(fid)}
                           for fid in by.get(s.name, [])]} for s in subs]

    def create_subject(self, name: str) -> dict[str, Any]:
        from facenet.gallery.store import check_subject_name

        name = check_subject_name(name, "name", "create_subject")
        with self.lock:
            if any(s.name == name for s in self.gallery.subjects()):
                raise ApiError(409, "subject_exists", f"a subject named {name!r} already exists")
            self.gallery.add_faces(name, [])
        return {"name": name, "n_faces": 0, "faces": []}

    def rename(self, old: str, new: str) -> dict[str, Any]:
        with self.lock:
            self.gallery.rename(old, new)
        return {"name": new.strip()}

    def merge(self, source: str, target: str) -> dict[str, Any]:
        with self.lock:
            dropped = {f.face_id for f in self.gallery.faces(source)}
            moved = self.gallery.merge(source, target)
            dropped -= {f.face_id for f in self.gallery.faces(target)}
            self.thumbs.remove(dropped)  # photos the target already had
        return {"name": target.strip(), "moved": int(moved)}

    def remove(self, name: str) -> dict[str, Any]:
        with self.lock:
            ids = [f.face_id for f in self.gallery.faces(name)]
            n = self.gallery.remove(name)
            self.thumbs.remove(ids)
        return {"removed": name.strip(), "faces": int(n)}

    def remove_face(self, name: str, face_id: int) -> dict[str, Any]:
        with self.lock:
            if face_id not in {f.face_id for f in self.gallery.faces(name)}:
                raise ApiError(404, "face_not_found", f"{name!r} has no face {face_id}")
            self.gallery.remove_faces([face_id])  # the index masks it (no rebuild)
            self.thumbs.remove([face_id])
        return {"removed": int(face_id), "subject": name.strip()}

    def thumbnail(self, face_id: int) -> bytes:
        data = self.thumbs.get(face_id)
        if data is None:
            raise ApiError(404, "thumbnail_not_found", f"no thumbnail for face {face_id}")
        return data
