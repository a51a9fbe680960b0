"""Cluster a folder of photos into people: the entry point of ``facenet cluster`` and the service.

>>> run = cluster_folder("photos/", "people/", FacePipeline())     # every face, clustered
>>> name_cluster("people/", 1, "Ada")                              # survives later runs
>>> run = cluster_folder("photos/", "people/", FacePipeline())     # only new photos embedded; "Ada" kept
>>> enroll_cluster("people/", "Ada", open_gallery("people.gallery", FacePipeline()))

Every face of every photo is found (the pipeline's detector with its retry pass), embedded once
(:mod:`facenet.cluster.cache`), and clustered by :func:`facenet.cluster.methods.cluster_embeddings`
with the photo as the cannot-link group, so two faces of one photo never share a cluster. A photo
without a face is reported and never clustered (no centre-crop fallback); an unreadable one is
reported and the rest is clustered. See :mod:`facenet.cluster.output` for what OUT holds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facenet.cluster.cache import EmbeddingCache, cache_key
from facenet.cluster.collect import PhotoEntry, collect_faces, thumb_name
from facenet.cluster.edit import refolder
from facenet.cluster.names import carry_names, check_cluster_name, folder_names, give_name, load_names, save_names
from facenet.cluster.output import (
    CACHE_FILE,
    LINKS,
    THUMBS,
    OutputFolderError,
    cache_of,
    cache_setting,
    check_out,
    make_links,
    read_run,
)
from facenet.cluster.results import Cluster, ClusterFace, ClusterRun
from facenet.cluster.review import publish
from facenet.data.files import find_photos
from facenet.errors import DataError, UsageError
from facenet.validation import check_option, check_scalar

Progress = Callable[[int, int], None]


def cluster_folder(root: str | Path | Sequence[str | Path], out: str | Path, pipeline: Any, *, method: str = "graph",
                   threshold: float | None = None, k: int | None = None, min_size: int = 1, update: bool = False,
                   link: str = "symlink", cache: str | Path | None = None, progress: bool | Progress = True,
                   seed: int = 0) -> ClusterRun:
    """Cluster every face of the photos under ``root`` and write the result to ``out``.

    root: a folder (searched recursively), or a list of folders and image files.
    out: the output folder (new, empty, or an earlier run's). pipeline: a FacePipeline.
    method: one of facenet.cluster.methods.METHODS. threshold: squared L2 (None: the calibrated
    one). k: kmeans' number of clusters. min_size: smaller clusters become unclustered.
    update: keep the earlier run's clusters and assign the new faces to them (new clusters only
    from the faces that fit none); without it the run starts over (names still carried over).
    link: how photos appear in the cluster folders: "symlink", "hardlink" or "copy".
    cache: the embedding cache file (default OUT/.facenet-cache.sqlite). progress: True for
    tqdm bars, a callable ``progress(done, total)`` (one step per photo, then one for the
    clustering and the output), or False.
    Returns the :class:`ClusterRun` written to OUT/assignments.json.
    """
    from facenet.cluster.methods import METHODS
    from facenet.gallery.gallery import identity_of

    owner = "cluster_folder"
    method = check_option(method, "method", METHODS, owner=owner)
    link = check_option(link, "link", LINKS, owner=owner)
    min_size = check_scalar(min_size, "min_size", int, min_val=1, owner=owner)
    threshold = check_scalar(threshold, "threshold", float, min_val=0.0, max_val=4.0, include="right", owner=owner,
                             allow_none=True)
    if method == "kmeans" and k is None:
        raise UsageError("method 'kmeans' needs --k K (the number of clusters); the others take a distance threshold")
    if k is not None:
        if method != "kmeans":
            raise UsageError(f"--k is for method 'kmeans'; method {method!r} takes --threshold T instead")
        k = check_scalar(k, "k", int, min_val=1, owner=owner)
    roots = [Path(root)] if isinstance(root, (str, os.PathLike)) else [Path(r) for r in root]
    identity = identity_of(pipeline)
    model = identity.model + ("+flip" if identity.flip else "")
    given = threshold
    threshold, source = _resolve_threshold(model, method, threshold)  # before the slow part: fail early
    for r in roots:
        if not r.exists():
            raise DataError(f"{r}: no such folder or file")
    out = check_out(Path(out), [r for r in roots if r.is_dir()])
    previous = read_run(out)
    if update and previous is not None and previous.model != identity.to_dict():
        raise UsageError(f"--update: the run in {out} was made by {previous.model.get('model')!r} embeddings, not "
                         f"{identity.describe()}; run without --update to start over")
    paths, ignored = find_photos(roots, exclude=out)
    if not paths:
        raise DataError(f"no image files under {', '.join(map(str, roots))}")
    out.mkdir(parents=True, exist_ok=True)
    cache_path = Path(cache) if cache is not None else out / CACHE_FILE
    detector = str(getattr(pipeline.detector, "name", type(pipeline.detector).__name__))
    steps = len(paths) + 1  # a callable sees the photos, then one step for clustering and writing
    report = (lambda done, _total: progress(done, steps)) if callable(progress) else progress
    with EmbeddingCache(cache_path, cache_key(identity, detector)) as c:
        col = collect_faces(paths, pipeline, c, out / THUMBS, report)

    photos = col.photos
    faces = [(p, e, kk) for p, e in enumerate(photos) for kk in range(len(e.faces))]
    dim = identity.embedding_size
    x = (np.concatenate([e.faces.embeddings for e in photos if len(e.faces)]).astype(np.float32)
         if faces else np.zeros((0, dim), np.float32))
    groups = np.asarray([p for p, _, _ in faces], np.int64)
    keys = [f"{e.sha256}:{kk}" for _, e, kk in faces]

    t0 = time.perf_counter()
    options: dict[str, Any] = {}
    if update and previous is not None and len(x):
        labels, threshold, source = _update_labels(previous, keys, x, groups, method, threshold, source, k, min_size,
                                                   model, seed, progress)
    elif len(x):
        from facenet.cluster.methods import cluster_embeddings

        r = cluster_embeddings(x, groups, method=method, threshold=given, k=k, min_size=min_size, model=model,
                               seed=seed, progress=progress is True)
        labels, threshold, source = r.labels + 1, r.threshold, r.threshold_source
        options = dict(getattr(r, "options", None) or {})
    else:
        labels = np.zeros(0, np.int64)
    seconds_cluster = time.perf_counter() - t0

    if previous is not None and not (update and len(x)):
        labels = stable_ids(labels, keys, previous)
    clusters, unclustered = _build(out, photos, faces, x, labels)
    names = load_names(out)
    carried = carry_names(names, {c.id: c.keys for c in clusters})
    clusters = [Cluster(c.id, carried[c.id].name if c.id in carried else None, c.faces) for c in clusters]
    folders = folder_names([(c.id, c.name) for c in clusters])
    clusters = [Cluster(c.id, c.name, c.faces, folders[c.id]) for c in clusters]
    clusters, unclustered = make_links(out, clusters, unclustered, link, previous)

    settings = {"method": method, "threshold": threshold, "threshold_source": source, "k": k, "min_size": min_size,
                "link": link, "update": bool(update and previous is not None), "detector": detector,
                "cache": cache_setting(out, cache_path), "roots": [str(r) for r in roots], "options": options, "seed": seed}
    run = ClusterRun(
        clusters=clusters, unclustered=unclustered, failed=list(col.errors), n_photos=len(photos), n_faces=len(faces),
        n_embedded_now=col.n_embedded_now, seconds_embed=col.seconds, seconds_cluster=seconds_cluster,
        warnings=list(col.warnings), no_face=[str(e.path) for e in photos if len(e.faces) == 0],
        duplicates={str(e.path): [str(d) for d in e.duplicates] for e in photos if e.duplicates},
        settings=settings, model=identity.to_dict(), n_ignored=ignored, out=str(out))
    if names:
        save_names(out, names)
    run = publish(out, run)
    if callable(progress):
        progress(steps, steps)
    return run


def _resolve_threshold(model: str, method: str, threshold: float | None) -> tuple[float | None, str]:
    if method == "kmeans":
        return None, "none (kmeans takes k)"
    if method == "hdbscan":
        if threshold is not None:
            raise UsageError("--threshold: hdbscan takes no distance threshold (it chooses its own cluster "
                             "densities); leave it out, or use --method graph")
        return None, "none (hdbscan chooses its own densities)"
    if threshold is not None:
        return threshold, "given"
    from facenet.cluster.threshold import default_threshold

    return default_threshold(model, method)


def _update_labels(previous: ClusterRun, keys: list[str], x: np.ndarray, groups: np.ndarray, method: str,
                   threshold: float | None, source: str, k: int | None, min_size: int, model: str, seed: int,
                   progress: bool | Progress) -> tuple[np.ndarray, float | None, str]:
    """Cluster ids (1-based, 0 = unclustered) keeping the earlier run's clusters: old faces keep
    their cluster, new faces join one (:func:`facenet.cluster.update.assign_nearest`) or, with
    the earlier unclustered faces, form new clusters after the existing ids."""
    from facenet.cluster.methods import cluster_embeddings
    from facenet.cluster.threshold import default_threshold
    from facenet.cluster.update import assign_nearest

    if threshold is None:  # a kmeans run before: the graph threshold decides who joins
        threshold, source = default_threshold(model, "graph")
    old = {f.key: cid for cid, f in previous.all_faces() if cid is not None}
    ids = sorted({cid for cid in old.values()})
    dense = {cid: i for i, cid in enumerate(ids)}
    labels = np.zeros(len(keys), np.int64)
    is_old = np.asarray([kk in old for kk in keys], bool)
    for i, kk in enumerate(keys):
        if kk in old:
            labels[i] = old[kk]
    known = {f.key for _, f in previous.all_faces()}
    new = np.flatnonzero(~np.asarray([kk in known for kk in keys], bool))
    if len(new) and ids:
        lab_old = np.asarray([dense[labels[i]] if is_old[i] else -1 for i in range(len(keys))], np.int64)
        limits = _join_limits(model, method, source, len(keys), lab_old, len(ids), threshold)
        got = assign_nearest(x[new], groups[new], x, lab_old, groups, threshold, len(ids), limits)
        labels[new[got >= 0]] = np.asarray(ids, np.int64)[got[got >= 0]]
    rest = np.flatnonzero(labels == 0)
    if len(rest):
        calibrated = source != "given" and method in ("graph", "kmeans")  # the graph defaults, detach step too
        r = cluster_embeddings(x[rest], groups[rest], method=method if method != "kmeans" else "graph",
                               threshold=None if calibrated else threshold, min_size=min_size, model=model, seed=seed,
                               progress=progress is True)
        start = max(ids, default=0)
        got = r.labels
        labels[rest[got >= 0]] = start + 1 + got[got >= 0]
    return labels, threshold, source


def _join_limits(model: str, method: str, source: str, n_faces: int, lab_old: np.ndarray, n_clusters: int,
                 threshold: float) -> np.ndarray | None:
    """Per-cluster join limits when the shipped graph setting has the detach step (and no
    threshold was given), else None (the plain threshold)."""
    if source == "given" or method not in ("graph", "kmeans"):
        return None
    from facenet.cluster.methods import single_threshold
    from facenet.cluster.threshold import default_options
    from facenet.cluster.update import join_limits

    opts = default_options(model, "graph")
    if opts.get("size_rule") != "detach" or opts.get("pair_fpir") is None:
        return None
    single = single_threshold(model, n_faces, float(opts["pair_fpir"]), threshold)
    return join_limits(lab_old, n_clusters, threshold, single, float(opts.get("size_power", 1.0)), opts.get("size_limit"))


def stable_ids(labels: np.ndarray, keys: list[str], previous: ClusterRun) -> np.ndarray:
    """Cluster ids (0 = unclustered) renumbered so that a cluster keeps the id of the earlier
    run's cluster it shares the most faces with (:func:`facenet.cluster.names.match_overlap`);
    the others take the smallest ids left free, largest cluster first. So ``cluster_0007`` stays
    the same person from run to run, and its folder keeps its links."""
    from facenet.cluster.names import match_overlap

    ids = [int(c) for c in np.unique(labels) if c > 0]
    if not ids:
        return labels
    members: dict[int, set[str]] = {c: set() for c in ids}
    for key, lab in zip(keys, labels):
        if lab > 0:
            members[int(lab)].add(key)
    old = [c.keys for c in previous.clusters]
    matched = {cid: previous.clusters[i].id for cid, i in match_overlap(old, members).items()}
    taken = set(matched.values())
    free = (i for i in range(1, len(ids) + len(taken) + 1) if i not in taken)
    for cid in sorted((c for c in ids if c not in matched), key=lambda c: (-len(members[c]), c)):
        matched[cid] = next(free)
    table = np.zeros(int(labels.max()) + 1, np.int64)
    for cid, new in matched.items():
        table[cid] = new
    return table[labels]


def _build(out: Path, photos: list[PhotoEntry], faces: list[tuple[int, PhotoEntry, int]], x: np.ndarray,
           labels: np.ndarray) -> tuple[list[Cluster], list[ClusterFace]]:
    """Clusters (by id 1, 2, ... from ``labels``; 0 = unclustered) with each face's distance to
    its cluster's centre, members nearest the centre first; clusters largest first."""
    thumbs = Path(out) / THUMBS
    members: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        members.setdefault(int(lab), []).append(i)

    def face(i: int, dist: float | None) -> ClusterFace:
        _, e, kk = faces[i]
        name = thumb_name(e.sha256, kk)
        return ClusterFace(photo=str(e.path), box=tuple(float(v) for v in e.faces.boxes[kk]), face_index=kk,
                           distance_to_centre=dist, thumbnail=f"{THUMBS}/{name}" if (thumbs / name).is_file() else None,
                           sha256=e.sha256, key=f"{e.sha256}:{kk}", score=float(e.faces.scores[kk]))

    clusters = []
    for cid, idx in members.items():
        if cid <= 0:
            continue
        centre = x[idx].astype(np.float64).sum(0)
        centre /= max(np.linalg.norm(centre), 1e-12)
        d = ((x[idx] - centre) ** 2).sum(1)
        order = np.argsort(d, kind="stable")
        clusters.append(Cluster(cid, None, [face(idx[j], float(d[j])) for j in order]))
    clusters.sort(key=lambda c: (-c.size, c.id))
    unclustered = [face(i, None) for i in members.get(0, [])]
    return clusters, unclustered


def load_run(out: str | Path) -> ClusterRun:
    """The run written in ``out``; DataError when there is none."""
    run = read_run(Path(out))
    if run is None:
        raise DataError(f"{out}: no clustering run here (no assignments.json); run `facenet cluster DIR --out {out}` first")
    return run


def name_cluster(out: str | Path, cluster_id: int | str, name: str) -> Cluster:
    """Give a cluster a name (by id, folder or current name): its folder is renamed, the sheet
    and assignments.json rewritten, and the name kept in OUT/names.json for later runs.
    Returns the cluster as it is now."""
    return _name(Path(out), cluster_id, name, None)


def _name(out: Path, cluster_id: int | str, name: str, gallery: str | None) -> Cluster:
    name = check_cluster_name(name)
    run = load_run(out)
    c = run.cluster(cluster_id)
    save_names(out, give_name(load_names(out), c.keys, name, gallery))
    run = refolder(out, run.with_cluster(Cluster(c.id, name, c.faces, c.folder)), c.id)
    run = publish(out, run)
    return run.cluster(c.id)


def enroll_cluster(out: str | Path, cluster_id: int | str, gallery: Any, name: str | None = None) -> tuple[Cluster, int]:
    """Enrol every face of a cluster into a recognition gallery under ``name`` (default: the
    cluster's name), and name the cluster so. The embeddings come from the run's cache (the
    same model as the gallery's, else ModelMismatchError). Returns (the named cluster, faces
    added; a photo this person already has is not added twice)."""
    from facenet.gallery.store import ModelIdentity, NewFace

    out = Path(out)
    run = load_run(out)
    c = run.cluster(cluster_id)
    name = check_cluster_name(name) if name is not None else c.name
    if name is None:
        raise UsageError(f"cluster {c.id} has no name yet; give the person's name (--name NAME)")
    identity = ModelIdentity.from_dict(run.model)
    gallery.identity.check_same(identity, what=f"the embeddings of the run in {out}")
    cache_path = cache_of(out, run)
    if not cache_path.is_file():
        raise DataError(f"{cache_path}: the run's embedding cache is missing; run `facenet cluster` again first")
    with EmbeddingCache(cache_path, cache_key(identity, run.settings.get("detector", "yunet"))) as cache:
        cached = cache.get_many({f.sha256 for f in c.faces})
    new = []
    for f in c.faces:
        entry = cached.get(f.sha256)
        if entry is None or f.face_index >= len(entry):
            raise DataError(f"{f.photo}: its faces are not in the embedding cache {cache_path}; run `facenet cluster` again")
        new.append(NewFace(embedding=entry.embeddings[f.face_index], photo_sha256=f.sha256, box=f.box, source=f.photo))
    added = gallery.add_faces(name, new)
    return _name(out, c.id, name, str(getattr(gallery.store, "location", ""))), len(added)


__all__ = ["ClusterRun", "Cluster", "ClusterFace", "OutputFolderError", "cluster_folder", "enroll_cluster", "load_run",
           "name_cluster"]
