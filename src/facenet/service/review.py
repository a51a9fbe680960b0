"""Reviewing a finished cluster job: name a cluster (its faces are enrolled into the gallery
under that name, with thumbnails), merge two clusters, move a face out of its cluster. Each
rewrites the job's ``assignments.json`` and contact sheet under the job's lock."""

from __future__ import annotations

from typing import Any

from facenet.errors import UsageError
from facenet.service.errors import ApiError


def name_cluster(service: Any, job_id: str, cluster_id: int, name: str) -> dict[str, Any]:
    """Name cluster ``cluster_id`` of a job and enrol its faces as ``name`` (created when
    missing; photos this person already has are not added twice)."""
    from facenet.cluster.run import enroll_cluster
    from facenet.gallery.store import SubjectNotFoundError, check_subject_name

    name = check_subject_name(name, "name", "name_cluster")
    job, _ = service.jobs._done(job_id)
    with job.lock, service.lock:
        try:
            before = {f.face_id for f in service.gallery.faces(name)}
        except SubjectNotFoundError:
            before = set()
        cluster, added = enroll_cluster(job.out, cluster_id, service.gallery, name)
        new = [f for f in service.gallery.faces(name) if f.face_id not in before]
        by_sha = {f.sha256: f for f in cluster.faces}
        for rec in new:
            face = by_sha.get(rec.photo_sha256)
            if face is not None and face.thumbnail:
                path = (job.out / face.thumbnail).resolve()
                if path.is_relative_to(job.out.resolve()) and path.is_file():
                    service.thumbs.put_encoded(rec.face_id, path.read_bytes())
    return {"cluster": cluster.id, "name": name, "added": int(added), "face_ids": sorted(int(f.face_id) for f in new)}


def merge_clusters(service: Any, job_id: str, cluster_id: int, into: int) -> dict[str, Any]:
    """Move every face of cluster ``cluster_id`` into cluster ``into`` (409 when both hold a face
    of the same photo: one photo never shows one person twice). The job's folder, names and
    sheet follow (:func:`facenet.cluster.edit.merge_clusters`)."""
    from facenet.cluster.edit import CannotLinkError
    from facenet.cluster.edit import merge_clusters as merge
    from facenet.cluster.run import load_run

    job, _ = service.jobs._done(job_id)
    with job.lock:
        run = load_run(job.out)
        src, dst = run.cluster(cluster_id), run.cluster(into)
        if src.id == dst.id:
            raise ApiError(422, "validation_error", "into: a cluster cannot be merged into itself")
        try:
            merged = merge(job.out, src.id, dst.id)
        except CannotLinkError:
            raise ApiError(409, "same_photo", f"clusters {src.id} and {dst.id} both hold a face of the same photo; "
                                              "move one of those faces out first") from None
    return {"cluster": merged.id, "size": merged.size, "merged": src.id}


def move_out(service: Any, job_id: str, key: str) -> dict[str, Any]:
    """Take face ``key`` out of its cluster (it becomes unclustered; an emptied cluster goes),
    with :func:`facenet.cluster.edit.move_face_out`."""
    from facenet.cluster.edit import move_face_out
    from facenet.cluster.run import load_run

    job, _ = service.jobs._done(job_id)
    with job.lock:
        run = load_run(job.out)
        if any(f.key == key for f in run.unclustered):
            return {"key": key, "cluster": None, "changed": False}
        holder = next((c for c in run.clusters if any(f.key == key for f in c.faces)), None)
        if holder is None:
            raise ApiError(404, "face_not_found", f"no face {key[:80]!r} in job {job_id}")
        move_face_out(job.out, key)
    return {"key": key, "cluster": None, "from": holder.id, "changed": True}


def split_cluster(service: Any, job_id: str, cluster_id: int, min_size: int) -> dict[str, Any]:
    """Cut cluster ``cluster_id`` into the two groups it divides into, each of ``min_size`` faces
    or more (422 when it has fewer than 2 ``min_size``), with
    :func:`facenet.cluster.edit.split_cluster`."""
    from facenet.cluster.edit import split_cluster as split
    from facenet.cluster.run import load_run

    job, _ = service.jobs._done(job_id)
    with job.lock:
        c = load_run(job.out).cluster(cluster_id)  # an unknown cluster: 404, as for the other edits
        try:
            r = split(job.out, c.id, min_size)
        except UsageError as exc:  # too few faces for two groups, or too many to look inside
            raise ApiError(422, "validation_error", str(exc)) from None
    return {"cluster": r.kept.id, "size": r.kept.size, "new": r.new.id, "new_size": r.new.size, "gap": round(r.gap, 4)}
