"""Cluster jobs: a set of uploaded photos, or a folder under a ``--photos`` root, clustered by
:func:`facenet.cluster.run.cluster_folder` on a job thread of its own (one job at a time, at
most ``max_jobs`` queued or running), with progress, then reviewed: name a cluster (which
enrols its faces into the gallery), merge two, move a face out."""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from facenet.service.errors import ApiError

log = logging.getLogger("facenet.service")

#: Finished jobs kept (the oldest beyond this are forgotten and their files removed).
KEEP_FINISHED = 32
_EXT = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp"}


@dataclass
class Job:
    """One clustering job. photos: the folder or files clustered; names: real path -> the name
    the client knows the photo by (its upload's file name, or its path under the root)."""

    id: str
    folder: Path
    photos: list[Path]
    names: dict[str, str]
    state: str = "queued"
    done: int = 0
    total: int = 0
    error: str | None = None
    refused: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def out(self) -> Path:
        return self.folder / "out"


class JobManager:
    """The jobs of one service. factory() builds the job thread's pipeline (on first use)."""

    def __init__(self, service: Any, factory: Callable[[], Any]) -> None:
        self.service, self.factory = service, factory
        cfg = service.config
        base = Path(cfg.work_dir) if cfg.work_dir is not None else None
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="jobs-", dir=base))
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facenet-cluster")
        self._pipeline: Any = None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ starting

    def _new(self, photos: list[Path] | None, names: dict[str, str], refused: list[dict[str, Any]]) -> Job:
        with self._lock:
            active = sum(j.state in ("queued", "running") for j in self._jobs.values())
            if active >= self.service.config.max_jobs:
                raise ApiError(429, "too_many_jobs", f"{active} cluster jobs are queued or running; retry when one is done",
                               headers={"Retry-After": "5"})
            self._forget_old()
            job_id = secrets.token_hex(8)
            folder = self.root / job_id
            folder.mkdir()
            job = Job(job_id, folder, photos or [], names, refused=refused)
            self._jobs[job_id] = job
        return job

    def submit_uploads(self, files: Sequence[tuple[str, bytes]]) -> Job:
        """Cluster uploaded photos ((file name, bytes) each). Files that are empty or not an image
        (by their bytes) are left out and reported in the result's ``refused``."""
        from facenet.service.uploads import sniff

        if not files:
            raise ApiError(422, "validation_error", "images: at least one photo is needed")
        if len(files) > self.service.config.max_images:
            raise ApiError(413, "too_many_images", f"{len(files)} photos sent; at most {self.service.config.max_images} per job")
        job = self._new(None, {}, [])
        photos_dir = job.folder / "photos"
        photos_dir.mkdir()
        for i, (name, data) in enumerate(files):
            shown = (Path(name or f"photo{i}").name or f"photo{i}")[:200]
            fmt = sniff(data) if data else None
            if fmt is None:
                job.refused.append({"index": i, "path": shown, "error": "empty" if not data else "not an image"})
                continue
            p = photos_dir / f"{i:05d}{_EXT[fmt]}"  # never the client's file name on disk
            p.write_bytes(data)
            job.photos.append(p)
            job.names[str(p)] = shown
        return self._start(job)

    def submit_folder(self, rel: object) -> Job:
        """Cluster the photos of a folder under a --photos root (see :mod:`facenet.service.paths`)."""
        from facenet.data.files import IMAGE_EXTENSIONS
        from facenet.service.paths import list_photos, resolve_folder

        roots = self.service.config.photos
        folder, root = resolve_folder(roots, rel)
        photos, refused = list_photos(folder, roots, IMAGE_EXTENSIONS)
        if not photos:
            raise ApiError(422, "no_photos", f"no photos in {rel!r}")
        names = {str(p): str(p.relative_to(root)) if p.is_relative_to(root) else p.name for p in photos}
        job = self._new(photos, names, [{"index": -1, "path": "", "error": f"{refused} file(s) lead outside the photo roots"}]
                        if refused else [])
        return self._start(job)

    def _start(self, job: Job) -> Job:
        job.total = len(job.photos)
        if not job.photos:
            job.state, job.error = "failed", "none of the uploaded files is an image"
            return job
        self._executor.submit(self._run, job)
        return job

    def _run(self, job: Job) -> None:
        from facenet.cluster.run import cluster_folder
        from facenet.errors import FacenetError

        job.state = "running"

        def progress(done: int, total: int) -> None:
            job.done, job.total = int(done), int(total)

        try:
            if self._pipeline is None:
                self._pipeline = self.factory()
            cfg = self.service.config
            cluster_folder(job.photos, job.out, self._pipeline, method=cfg.cluster_method, threshold=cfg.cluster_threshold,
                           link="symlink", progress=progress)
            job.state = "done"
        except (FacenetError, ValueError) as exc:
            job.state, job.error = "failed", getattr(exc, "reason", None) or " ".join(str(exc).split())
        except Exception:  # noqa: BLE001 - logged; the client gets no details
            log.exception("cluster job %s failed", job.id)
            job.state, job.error = "failed", "internal error"

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values() if j.state in ("done", "failed")), key=lambda j: j.created)
        for j in finished[: max(0, len(finished) - KEEP_FINISHED + 1)]:
            self._jobs.pop(j.id, None)
            shutil.rmtree(j.folder, ignore_errors=True)

    # ------------------------------------------------------------------ reading

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "job_not_found", f"no cluster job {job_id[:40]!r}")
        return job

    def _done(self, job_id: str) -> tuple[Job, Any]:
        from facenet.cluster.run import load_run

        job = self.get(job_id)
        if job.state != "done":
            raise ApiError(409, "job_not_done", f"cluster job {job_id} is {job.state}")
        return job, load_run(job.out)

    def describe(self, job_id: str) -> dict[str, Any]:
        """The job as the API shows it: state, progress, and when done the run (photo names as
        the client knows them, server paths left out) with a thumbnail URL per face."""
        job = self.get(job_id)
        out: dict[str, Any] = {"job_id": job.id, "state": job.state, "progress": {"done": job.done, "total": job.total},
                               "error": job.error, "result": None}
        if job.state == "done":
            with job.lock:
                _, run = self._done(job_id)
                out["result"] = self._public(job, run.to_dict())
        return out

    def _public(self, job: Job, d: dict[str, Any]) -> dict[str, Any]:
        shown = lambda p: job.names.get(str(p), Path(str(p)).name)  # noqa: E731
        base = f"/api/v1/cluster/jobs/{job.id}/faces"
        for face in [f for c in d["clusters"] for f in c["faces"]] + d["unclustered"]:
            face["photo"] = shown(face["photo"])
            face["thumbnail_url"] = f"{base}/{face['key']}/thumbnail" if face.get("thumbnail") else None
            face.pop("link", None)
            face.pop("thumbnail", None)
        for c in d["clusters"]:
            c.pop("folder", None)
        d["no_face"] = [shown(p) for p in d.get("no_face", [])]
        d["warnings"] = [{"path": shown(w["path"]), "message": w["message"]} for w in d.get("warnings", [])]
        d["failed"] = [{**e, "path": shown(e["path"])} for e in d.get("failed", [])] + job.refused
        d["duplicates"] = {shown(k): [shown(v) for v in vs] for k, vs in d.get("duplicates", {}).items()}
        d.pop("out", None)
        d["settings"] = {k: v for k, v in d.get("settings", {}).items() if k not in ("cache", "roots", "link")}
        return d

    def thumbnail(self, job_id: str, key: str) -> bytes:
        job, run = self._done(job_id)
        for _, f in run.all_faces():
            if f.key == key and f.thumbnail:
                p = (job.out / f.thumbnail).resolve()
                if p.is_relative_to(job.out.resolve()) and p.is_file():
                    return p.read_bytes()
        raise ApiError(404, "face_not_found", f"no face {key[:80]!r} with a thumbnail in job {job_id}")
