"""The output folder of a clustering run.

::

    OUT/assignments.json        the run (ClusterRun.to_dict()): settings, model, threshold, every face
    OUT/index.html              the contact sheet (facenet.cluster.sheet), links relative to OUT
    OUT/names.json              names given to clusters (facenet.cluster.names)
    OUT/thumbs/                 one JPEG per face, content-addressed (kept across runs)
    OUT/<cluster folder>/       a link to (or copy of) each photo with a face in the cluster
    OUT/unclustered/            the photos of faces in no cluster
    OUT/.facenet-cache.sqlite   the embedding cache (unless --cache names another file)

The originals are only read: a link is a symlink to the photo's absolute path, a hard link, or
a copy (``shutil.copy2``). A rerun removes only the links it made before (listed in the previous
``assignments.json``) and the folders they leave empty; anything else in OUT stays.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Iterable, Sequence

from facenet.cluster.results import Cluster, ClusterFace, ClusterRun
from facenet.errors import DataError, UsageError
from facenet.fileio import write_atomic

ASSIGNMENTS = "assignments.json"
SHEET = "index.html"
THUMBS = "thumbs"
UNCLUSTERED = "unclustered"
CACHE_FILE = ".facenet-cache.sqlite"
LINKS = ("symlink", "hardlink", "copy")


def write_file(path: Path, data: bytes) -> Path:
    """Write ``path`` atomically (:func:`facenet.fileio.write_atomic`), readable by all (0644,
    like any document: the contact sheet is opened by a browser, maybe served)."""
    write_atomic(path, data)
    os.chmod(path, 0o644)
    return Path(path)


class OutputFolderError(UsageError):
    """An --out folder that holds something other than a clustering run, or the photos themselves."""


def check_out(out: Path, roots: Sequence[Path]) -> Path:
    """``out``, checked (not created). Refused (OutputFolderError) when it is one of the
    roots or holds one (the run would write among the photos), or when it is a folder that is
    neither empty nor the output of an earlier run (``assignments.json``, or the cache of a run
    that was stopped)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"--out {out} is a file; name a folder for the clusters")
    res = out.resolve()
    for r in roots:
        rr = Path(r).resolve()
        if rr == res or res in rr.parents:
            raise OutputFolderError(f"--out {out} is or holds the photo folder {r}; name a folder outside it "
                                    "(the photos are never moved or written)")
    ours = (out / ASSIGNMENTS).is_file() or (out / CACHE_FILE).is_file()  # a run, or one stopped half way
    if out.is_dir() and any(out.iterdir()) and not ours:
        raise OutputFolderError(f"--out {out} is a folder that is not empty and holds no earlier clustering run "
                                f"({ASSIGNMENTS}); name an empty or new folder")
    return out


def cache_setting(out: Path, cache: Path) -> str:
    """How a run records its cache: relative to OUT when inside it (OUT can then be moved whole),
    else absolute."""
    c, o = Path(cache).resolve(), Path(out).resolve()
    try:
        return c.relative_to(o).as_posix()
    except ValueError:
        return str(c)


def cache_of(out: Path, run: ClusterRun) -> Path:
    """The embedding cache of the run in ``out`` (see :func:`cache_setting`)."""
    return Path(out) / (run.settings.get("cache") or CACHE_FILE)  # an absolute setting stays absolute


def read_run(out: Path) -> ClusterRun | None:
    """The run written in ``out`` (None when there is none). DataError for a damaged file."""
    path = Path(out) / ASSIGNMENTS
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the clustering run ({exc})") from None
    return ClusterRun.from_dict(d)


def write_run(out: Path, run: ClusterRun) -> None:
    """assignments.json, atomically."""
    text = json.dumps(run.to_dict(), ensure_ascii=False, allow_nan=False)  # compact: the C encoder, fast at 100k faces
    write_file(Path(out) / ASSIGNMENTS, (text + "\n").encode("utf-8"))


def previous_links(out: Path, previous: ClusterRun | None) -> dict[tuple[str, str, str], str]:
    """{(folder, photo, sha256): link} of the links an earlier run made that are still there."""
    if previous is None:
        return {}
    found = {}
    for _, f in previous.all_faces():
        if f.link and _own_link(f.link):
            p = Path(out) / f.link
            if os.path.lexists(p) and not p.is_dir():
                found[(f.link.split("/", 1)[0], f.photo, f.sha256)] = f.link
    return found


def _own_link(link: str) -> bool:
    """A link as runs write them: ``<folder>/<file>`` under OUT (nothing absolute, no ``..``), so
    a damaged or edited assignments.json cannot make a rerun remove files elsewhere."""
    parts = link.split("/")
    return len(parts) == 2 and all(p not in ("", ".", "..") for p in parts)


def remove_links(out: Path, links: Iterable[str]) -> None:
    """Remove links (or copies) an earlier run made (paths relative to OUT), and the folders
    they leave empty; anything else is left alone."""
    folders = set()
    for link in links:
        if not _own_link(link):
            continue
        p = Path(out) / link
        if os.path.lexists(p) and not p.is_dir():
            p.unlink(missing_ok=True)
        folders.add(p.parent)
    for f in folders:
        try:
            f.rmdir()
        except OSError:
            pass  # not empty (the user put something there) or gone: left alone


def make_links(out: Path, clusters: list[Cluster], unclustered: list[ClusterFace], link: str,
               previous: ClusterRun | None = None) -> tuple[list[Cluster], list[ClusterFace]]:
    """Put every photo of each cluster in its folder (and of each unclustered face in
    ``unclustered/``); returns the clusters and faces with their ``link`` set (relative to OUT).
    Photos with the same file name in one folder are told apart with ``_2``, ``_3``...
    previous: the earlier run in OUT: its links that are still wanted (same folder, same photo,
    same bytes) are kept as they are (a rerun with --link copy copies only what changed), the
    others removed first."""
    if link not in LINKS:
        raise ValueError(f"The 'link' parameter of cluster_folder must be one of {', '.join(map(repr, LINKS))}. "
                         f"Got {link!r} instead.")
    same_kind = previous is not None and previous.settings.get("link", "symlink") == link
    had = previous_links(out, previous) if same_kind else {}
    wanted = {(c.folder, f.photo, f.sha256) for c in clusters for f in c.faces}
    wanted |= {(UNCLUSTERED, f.photo, f.sha256) for f in unclustered}
    stale = [v for k, v in had.items() if k not in wanted]
    if previous is not None:  # those gone already, or of another --link: their folders may be left empty
        found = set(had.values())
        stale += [f.link for _, f in previous.all_faces() if f.link and f.link not in found]
    remove_links(out, stale)
    keep = {k: v for k, v in had.items() if k in wanted}
    new_clusters = [Cluster(c.id, c.name, _link_faces(out, c.folder, c.faces, link, keep), c.folder) for c in clusters]
    (Path(out) / UNCLUSTERED).mkdir(exist_ok=True)  # always there, empty when every face is clustered
    return new_clusters, _link_faces(out, UNCLUSTERED, unclustered, link, keep)


def _link_faces(out: Path, folder: str, faces: Iterable[ClusterFace], link: str,
                keep: dict[tuple[str, str, str], str]) -> list[ClusterFace]:
    from dataclasses import replace

    faces = list(faces)
    d = Path(out) / folder
    if faces:
        d.mkdir(parents=True, exist_ok=True)
    by_photo: dict[str, str] = {}
    used: set[str] = {p.name.lower() for p in d.iterdir()} if d.is_dir() else set()
    out_faces = []
    for f in faces:
        if f.photo not in by_photo:
            kept = keep.get((folder, f.photo, f.sha256))
            if kept is not None:
                by_photo[f.photo] = kept
            else:
                name = _free_name(Path(f.photo).name, used)
                place(Path(f.photo), d / name, link)
                by_photo[f.photo] = f"{folder}/{name}"
        out_faces.append(replace(f, link=by_photo[f.photo]))
    return out_faces


def _free_name(name: str, used: set[str]) -> str:
    stem, suffix = os.path.splitext(name)
    cand, n = name, 1
    while cand.lower() in used:
        n += 1
        cand = f"{stem}_{n}{suffix}"
    used.add(cand.lower())
    return cand


def place(src: Path, dst: Path, link: str) -> None:
    """A symlink to ``src``'s absolute path, a hard link, or a copy (data and times) at ``dst``.
    ``src`` is only read. A hard link across file systems is refused with what to use instead."""
    if link == "symlink":
        os.symlink(src.resolve(), dst)
    elif link == "hardlink":
        try:
            os.link(src, dst)
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise OutputFolderError(f"--link hardlink: cannot hard-link {src} into {dst.parent} ({exc.strerror}); "
                                        "use --link symlink or --link copy") from None
            raise
    else:
        shutil.copy2(src, dst)


def rename_folder(out: Path, run: ClusterRun, cluster: Cluster, folder: str) -> ClusterRun:
    """Move a cluster's folder to ``folder`` (relative to OUT) and update its faces' links."""
    from dataclasses import replace

    if folder == cluster.folder:
        return run
    src, dst = Path(out) / cluster.folder, Path(out) / folder
    if dst.exists():
        raise OutputFolderError(f"{dst} exists already; cannot rename the folder of cluster {cluster.id} to it")
    if src.is_dir():
        src.rename(dst)
    else:
        dst.mkdir(parents=True)
    faces = [replace(f, link=f"{folder}/{f.link.split('/', 1)[1]}" if f.link else None) for f in cluster.faces]
    return run.with_cluster(Cluster(cluster.id, cluster.name, faces, folder))

