"""Corrections to a clustering run: merge two clusters, split one in two, take a face out of its cluster.

Both rewrite OUT in place (links moved, ``assignments.json`` and ``index.html`` rewritten, the
distances to the centre recomputed from the cached embeddings) and keep the names in step. A run
with ``--update`` keeps the corrections (old faces keep their clusters); a run without it starts
over and keeps only the names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from facenet.cluster.names import folder_names, give_name, load_names, save_names
from facenet.cluster.output import UNCLUSTERED, cache_of, read_run, rename_folder
from facenet.cluster.results import Cluster, ClusterFace, ClusterRun
from facenet.cluster.review import SPLIT_LIMIT, face_embeddings, publish
from facenet.errors import DataError, UsageError
from facenet.validation import check_scalar


class CannotLinkError(UsageError):
    """A merge that would put two faces of one photo into one cluster."""


def _load(out: Path) -> ClusterRun:
    run = read_run(out)
    if run is None:
        raise DataError(f"{out}: no clustering run here (no assignments.json)")
    return run


def _with_distances(out: Path, run: ClusterRun, faces: list[ClusterFace]) -> list[ClusterFace]:
    """The faces with their squared-L2 distance to their (renormalised mean) centre, nearest first."""
    x = face_embeddings(out, run, faces)
    if x is None:
        return faces
    c = x.sum(0)
    c /= max(np.linalg.norm(c), 1e-12)
    d = ((x - c) ** 2).sum(1)
    return [replace(faces[i], distance_to_centre=float(d[i])) for i in np.argsort(d, kind="stable")]


def _move_link(out: Path, face: ClusterFace, folder: str) -> str | None:
    """Move a face's photo link into ``folder`` (a free name there); returns the new link."""
    if not face.link:
        return None
    src = out / face.link
    d = out / folder
    d.mkdir(parents=True, exist_ok=True)
    name, stem, suffix, n = src.name, src.stem, src.suffix, 1
    while (d / name).exists() or (d / name).is_symlink():
        n += 1
        name = f"{stem}_{n}{suffix}"
    if src.is_symlink() or src.exists():
        src.rename(d / name)
    return f"{folder}/{name}"


def merge_clusters(out: str | Path, source: int | str, into: int | str) -> Cluster:
    """Move every face of cluster ``source`` into cluster ``into`` (ids, folders or names) and
    remove ``source``. Refused (CannotLinkError) when the two hold faces of one photo. The merged
    cluster keeps ``into``'s name, or takes ``source``'s when ``into`` has none."""
    out = Path(out)
    run = _load(out)
    a, b = run.cluster(source), run.cluster(into)
    if a.id == b.id:
        raise UsageError(f"cannot merge cluster {a.id} into itself")
    shared = {f.photo for f in a.faces} & {f.photo for f in b.faces}
    if shared:
        raise CannotLinkError(f"clusters {a.id} and {b.id} both hold a face of {sorted(shared)[0]}; two faces of one "
                              "photo are two people, so they cannot be merged")
    moved = [replace(f, link=_move_link(out, f, b.folder)) for f in a.faces]
    _remove_empty(out / a.folder)
    name = b.name or a.name
    merged = Cluster(b.id, name, _with_distances(out, run, b.faces + moved), b.folder)
    clusters = sorted([merged if c.id == b.id else c for c in run.clusters if c.id != a.id], key=lambda c: (-c.size, c.id))
    run = replace(run, clusters=clusters)
    if name is not None:
        save_names(out, give_name(load_names(out), merged.keys, name))
        run = refolder(out, run, merged.id)
    run = publish(out, run)
    return run.cluster(merged.id)


@dataclass(frozen=True)
class Split:
    """What :func:`split_cluster` did: the cluster as it is now (id, name and folder kept), the
    new cluster beside it, and the gap between the two groups (squared L2, :mod:`facenet.cluster.split`)."""

    kept: Cluster
    new: Cluster
    gap: float

    def to_dict(self) -> dict[str, Any]:
        def brief(c: Cluster) -> dict[str, Any]:
            return {"id": c.id, "name": c.name, "folder": c.folder, "size": c.size}

        return {"kept": brief(self.kept), "new": brief(self.new), "gap": round(self.gap, 4)}


def split_cluster(out: str | Path, ref: int | str, min_size: int = 2) -> Split:
    """Cut cluster ``ref`` (id, folder or name) into the two groups it divides into
    (:func:`facenet.cluster.split.two_groups`, each of ``min_size`` faces or more). The larger
    group keeps the id, the name and the folder, and faces above the cut stay with it. The other
    becomes a new unnamed cluster with its own folder, and a name no longer covers its faces.
    UsageError when the cluster has fewer than 2 min_size faces; DataError when the run's
    embedding cache no longer holds its faces."""
    from facenet.cluster.split import two_groups

    check_scalar(min_size, "min_size", int, min_val=1, owner="split_cluster")
    out = Path(out)
    run = _load(out)
    c = run.cluster(ref)
    if c.size > SPLIT_LIMIT:
        raise UsageError(f"cluster {c.id} has {c.size} faces; split looks inside clusters of up to {SPLIT_LIMIT} "
                         "(average linkage over every pair of faces); move faces out or merge instead")
    if c.size < 2 * min_size:
        raise UsageError(f"cluster {c.id} has {c.size} face(s); splitting it into two groups of at least {min_size} "
                         f"needs {2 * min_size}")
    x = face_embeddings(out, run, c.faces)
    if x is None:
        raise DataError(f"{out}: the embedding cache ({cache_of(out, run)}) no longer holds every face of cluster "
                        f"{c.id}; run the clustering again (it re-embeds only what is missing), then split")
    _, b, gap = two_groups(x, min_size)
    cut = set(b.tolist())
    new_id = max(o.id for o in run.clusters) + 1
    folder = folder_names([(new_id, None)])[new_id]
    moved = [replace(f, link=_move_link(out, f, folder)) for i, f in enumerate(c.faces) if i in cut]
    kept = Cluster(c.id, c.name, _with_distances(out, run, [f for i, f in enumerate(c.faces) if i not in cut]), c.folder)
    new = Cluster(new_id, None, _with_distances(out, run, moved), folder)
    gone = {f.key for f in moved}
    names = load_names(out)
    if names and gone:
        for e in names:
            e.faces -= gone
        save_names(out, names)
    clusters = [kept if o.id == c.id else o for o in run.clusters] + [new]
    run = replace(run, clusters=sorted(clusters, key=lambda o: (-o.size, o.id)))
    run = publish(out, run)
    return Split(run.cluster(kept.id), run.cluster(new.id), float(gap))


def move_face_out(out: str | Path, key: str) -> ClusterRun:
    """Take the face ``key`` (``"<sha256>:<face index>"``) out of its cluster into unclustered
    (a cluster left empty is removed). Returns the run as it is now."""
    out = Path(out)
    run = _load(out)
    owner = next((c for c in run.clusters if key in c.keys), None)
    if owner is None:
        if any(f.key == key for f in run.unclustered):
            return run
        raise UsageError(f"No face {key!r} in {out}")
    face = next(f for f in owner.faces if f.key == key)
    link = None
    if face.link:
        there = next((f.link for f in run.unclustered if f.photo == face.photo), None)
        if there is not None:  # the photo is in unclustered/ already: drop the cluster's link
            (out / face.link).unlink(missing_ok=True)
            link = there
        else:
            link = _move_link(out, face, UNCLUSTERED)
    rest = [f for f in owner.faces if f.key != key]
    if rest:
        clusters = [Cluster(c.id, c.name, _with_distances(out, run, rest), c.folder) if c.id == owner.id else c
                    for c in run.clusters]
    else:
        _remove_empty(out / owner.folder)
        clusters = [c for c in run.clusters if c.id != owner.id]
    names = load_names(out)
    for e in names:
        e.faces.discard(key)
    if names:
        save_names(out, [e for e in names if e.faces])
    run = replace(run, clusters=sorted(clusters, key=lambda c: (-c.size, c.id)),
                  unclustered=[*run.unclustered, replace(face, distance_to_centre=None, link=link)])
    run = publish(out, run)
    return run


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (something the user put there) or gone: left alone


def refolder(out: Path, run: ClusterRun, cid: int) -> ClusterRun:
    """Give cluster ``cid`` the folder its name asks for (:func:`folder_names`; `` (2)``... when
    another folder has that name already), moving its links."""
    c = run.cluster(cid)
    base = folder_names([(o.id, o.name) for o in run.clusters])[cid]
    taken = {o.folder.lower() for o in run.clusters if o.id != cid}
    want, n = base, 1
    while want != c.folder and (want.lower() in taken or (out / want).exists()):
        n += 1
        want = f"{base} ({n})"
    return rename_folder(out, run, c, want)
