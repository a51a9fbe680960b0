"""``OUT/index.html``: the contact sheet of a clustering run.

One row of face thumbnails per cluster, largest first; the unnamed clusters of a single face
share one section after them, then the unclustered faces. Above the rows, "Check first" names the
clusters whose faces divide most clearly into two groups (:mod:`facenet.cluster.review`), each
with the command that splits it. Each thumbnail links to the photo in
its cluster's folder, each heading to the folder. Every link is
relative to OUT and percent-encoded, so the page opens from disk (``file://``) with no broken
image, wherever OUT is moved. No scripts, no external resources.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import quote

from facenet.cluster.output import write_file
from facenet.cluster.results import Cluster, ClusterFace, ClusterRun

#: Thumbnails shown per row before "... and N more" (the folder holds them all).
ROW_LIMIT = 200
#: Thumbnails shown in the one section of unnamed clusters of a single face.
SINGLES_LIMIT = 2000

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; margin-bottom: .2em; } .meta { color: #666; font-size: .9em; margin-bottom: 1.5em; }
section { margin-bottom: 1.4em; } h2 { font-size: 1.05em; margin: .3em 0; } h2 .n { color: #777; font-weight: normal; }
.row { display: flex; flex-wrap: wrap; gap: 4px; } .row a { display: block; line-height: 0; }
.row img { width: 80px; height: 80px; border-radius: 4px; object-fit: cover; }
.more { color: #777; align-self: center; margin-left: .5em; } .missing { width: 80px; height: 80px; background: #ddd; }
ul.plain { color: #666; font-size: .9em; } .review { font-size: .9em; } .review code { background: #eee; padding: 0 .3em; }
"""


def href(rel: str) -> str:
    """A relative path (``/``-separated, relative to OUT) as a URL that resolves from disk."""
    return quote(rel, safe="/")


def _face(f: ClusterFace) -> str:
    title = escape(f"{f.photo} (face {f.face_index}"
                   + (f", distance to centre {f.distance_to_centre:.3f})" if f.distance_to_centre is not None else ")"))
    img = (f'<img src="{escape(href(f.thumbnail))}" alt="face {f.face_index} of {escape(Path(f.photo).name)}" '
           f'loading="lazy">' if f.thumbnail else '<span class="missing"></span>')
    if f.link:
        return f'<a href="{escape(href(f.link))}" title="{title}">{img}</a>'
    return f'<span title="{title}">{img}</span>'


def _row(title: str, folder: str | None, faces: list[ClusterFace], limit: int = ROW_LIMIT, anchor: str = "") -> str:
    head = escape(title)
    if folder:
        head = f'<a href="{escape(href(folder))}/">{head}</a>'
    n = len(faces)
    cells = "".join(_face(f) for f in faces[:limit])
    more = f'<span class="more">... and {n - limit} more</span>' if n > limit else ""
    at = f' id="{escape(anchor)}"' if anchor else ""
    return (f'<section{at}><h2>{head} <span class="n">{n} face{"s" if n != 1 else ""}</span></h2>'
            f'<div class="row">{cells}{more}</div></section>')


def _review(run: ClusterRun) -> str:
    items = []
    known = {c.id for c in run.clusters}
    for entry in run.check_first:
        if entry["cluster"] not in known:
            continue
        c, gap = run.cluster(entry["cluster"]), float(entry["gap"])
        items.append(f'<li><a href="#cluster-{c.id}">{escape(cluster_title(c))}</a> ({c.size} faces): two groups '
                     f'{gap:.3f} apart beyond their own spread; <code>facenet cluster split OUT {c.id}</code></li>')
    return ("<section class=\"review\"><h2>Check first: faces that divide most clearly into two groups</h2>"
            "<p class=\"meta\">Two people merged into one cluster (relatives, say) look like this; one person seen two ways "
            "can too, so look before splitting. OUT is this folder; the split keeps the larger group's name.</p>"
            f"<ul class=\"plain\">{''.join(items)}</ul></section>")


def cluster_title(c: Cluster) -> str:
    return c.name if c.name else f"Cluster {c.id}"


def render(run: ClusterRun) -> str:
    """The page as a string: the clusters to check first (``run.check_first``; no section when
    empty), then the clusters largest first (ties: lower id), the unnamed one-face clusters in
    one section, then unclustered faces and the photos without a face or that could not be read."""
    clusters = sorted(run.clusters, key=lambda c: (-c.size, c.id))
    s = run.settings
    thr = s.get("threshold")
    meta = (f"{run.n_photos} photos, {run.n_faces} faces, {run.n_clusters} clusters, "
            f"{len(run.unclustered)} unclustered. Method {s.get('method', '?')}"
            + (f", threshold {thr:.4f} (squared L2; {s.get('threshold_source', '')})" if thr is not None else "")
            + f"; model {run.model.get('model', '?')}.")
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Face clusters</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Face clusters</h1><p class=\"meta\">{escape(meta)}</p>"]
    if run.check_first:
        parts.append(_review(run))
    parts += [_row(cluster_title(c), c.folder, c.faces, anchor=f"cluster-{c.id}") for c in clusters if c.size > 1 or c.name]
    alone = [c for c in clusters if c.size == 1 and not c.name]
    if alone:  # one section for the faces alone in their cluster (most people of a library, often)
        parts.append(_row(f"{len(alone)} cluster{'s' if len(alone) != 1 else ''} of one face", None,
                          [c.faces[0] for c in alone], limit=SINGLES_LIMIT))
    if run.unclustered:
        parts.append(_row("Unclustered", "unclustered", run.unclustered))
    if run.no_face:
        items = "".join(f"<li>{escape(p)}</li>" for p in run.no_face)
        parts.append(f"<section><h2>No face found <span class=\"n\">{len(run.no_face)}</span></h2>"
                     f"<ul class=\"plain\">{items}</ul></section>")
    if run.failed:
        items = "".join(f"<li>{escape(e.source)}: {escape(e.reason)}</li>" for e in run.failed)
        parts.append(f"<section><h2>Could not be read <span class=\"n\">{len(run.failed)}</span></h2>"
                     f"<ul class=\"plain\">{items}</ul></section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_sheet(out: Path, run: ClusterRun) -> Path:
    """Write ``OUT/index.html`` atomically; returns its path."""
    return write_file(Path(out) / "index.html", render(run).encode("utf-8"))
