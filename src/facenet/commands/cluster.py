"""`facenet cluster DIR --out OUT [...]`, `facenet cluster name OUT CLUSTER NAME`,
`facenet cluster enroll OUT CLUSTER --gallery G [--name NAME]`, `facenet cluster split OUT CLUSTER [--min-size N]`"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facenet.commands.common import PRESETS, emit_json, emit_result, error, warn
from facenet.errors import UsageError

USAGE = """facenet cluster DIR [DIR ...] --out OUT [--method M] [--threshold T | --k K] [--min-size N] [--update]
                       [--link symlink|hardlink|copy] [--cache FILE] [--preset fast|accurate | --embedder E]
                       [--flip] [--json] [--no-progress]
       facenet cluster name OUT CLUSTER NAME [--json]
       facenet cluster enroll OUT CLUSTER [--gallery G] [--name NAME] [--json]
       facenet cluster split OUT CLUSTER [--min-size N] [--json]"""

DESCRIPTION = """Find every face in every photo under DIR (recursively), embed each once (cached by the photo's
SHA-256 and the model, so a rerun embeds only new photos), and cluster them by person; two faces of
one photo never share a cluster. OUT gets one folder per cluster (links to the photos; the
originals are never moved or written), unclustered/, assignments.json and index.html (a contact
sheet that opens from disk). `name` gives a cluster a name that later runs keep; `enroll` enrols a
cluster's faces into a recognition gallery under its name; `split` cuts a cluster that holds two
people (relatives, say) into its two groups, each of at least N faces (default 2), and prints how far
apart they are. CLUSTER is an id (as in cluster_0003), a folder name or a given name. A folder
literally called "name", "enroll" or "split" is written ./name."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from facenet.cluster.methods import METHODS

    p = sub.add_parser("cluster", help="group the faces of a photo folder by person (folders, contact sheet, JSON)",
                       usage=USAGE, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="DIR", help="photo folder (or image files); or `name` / `enroll` / `split`")
    p.add_argument("rest", nargs="*", metavar="...", help="more folders; for `name`: OUT CLUSTER NAME; for `enroll` and `split`: OUT CLUSTER")
    p.add_argument("--out", metavar="OUT", help="output folder (new, empty, or an earlier run's)")
    p.add_argument("--method", default="graph", choices=METHODS, help="clustering method (default graph: scales to millions)")
    p.add_argument("--threshold", type=float, default=None,
                   help="squared-L2 distance threshold (default: the calibrated one for the model and method)")
    p.add_argument("--k", type=int, default=None, help="number of clusters (kmeans only)")
    p.add_argument("--min-size", type=int, default=None, metavar="N",
                   help="clusters with fewer faces go to unclustered/ (default 1); for `split`: the fewest faces "
                        "either part may have (default 2)")
    p.add_argument("--update", action="store_true",
                   help="keep the earlier run's clusters and add the new faces to them (default: cluster again)")
    p.add_argument("--link", default="symlink", choices=("symlink", "hardlink", "copy"),
                   help="how photos appear in the cluster folders (default symlink)")
    p.add_argument("--cache", metavar="FILE", help="embedding cache file (default OUT/.facenet-cache.sqlite)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--gallery", metavar="G", help="enroll: gallery file or postgresql:// URL (default: the default gallery)")
    p.add_argument("--name", dest="person", metavar="NAME", help="enroll: the person's name (default: the cluster's)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    g = p.add_argument_group("pipeline")
    g.add_argument("--detector", default="yunet", help="face detector: yunet (default) or mtcnn")
    g.add_argument("--embedder", default=None, help="embedding model (see `facenet models`; default: the preset's)")
    g.add_argument("--preset", choices=sorted(PRESETS), default="fast",
                   help="fast (default): YuNet + SFace; accurate: YuNet + fused (SFace + dlib ResNet, about 4.6x "
                        "slower); both have calibrated clustering settings. --embedder wins when given")
    g.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    g.add_argument("--backend", default=None, choices=["opencv", "onnxruntime"], help="inference engine for ONNX embedders")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.target in ("name", "enroll", "split") and args.out is None and args.rest:
        return {"name": _name, "enroll": _enroll, "split": _split}[args.target](args)
    if args.out is None:
        raise UsageError("cluster: --out OUT is required (the folder to write the clusters to)")
    return _cluster(args)


def _pipeline(detector: str, embedder: str, flip: bool, backend: str | None) -> Any:
    from facenet.pipeline import FacePipeline

    return FacePipeline(detector=detector, embedder=embedder, flip=flip, **({"backend": backend} if backend else {}))


def embedder_of(args: argparse.Namespace) -> str:
    """--embedder when given, else the --preset's embedder (as the other commands choose it)."""
    return args.embedder or PRESETS[args.preset]


def _cluster(args: argparse.Namespace) -> int:
    from facenet.cluster.run import cluster_folder

    pipe = _pipeline(args.detector, embedder_of(args), args.flip, args.backend)
    r = cluster_folder([args.target, *args.rest], args.out, pipe, method=args.method, threshold=args.threshold, k=args.k,
                       min_size=1 if args.min_size is None else args.min_size, update=args.update, link=args.link,
                       cache=args.cache,
                       progress=not args.no_progress)
    for e in r.failed:
        error(f"{e.source}: {e.reason}")
    for path, msg in r.warnings:
        warn(f"{path}: {msg}")
    if r.n_ignored:
        warn(f"{r.n_ignored} file(s) without an image extension ignored")
    if r.n_faces == 0:
        error(f"no face found in any of the {r.n_photos} readable photo(s); nothing clustered")
    if args.json:
        d = r.to_dict()
        emit_result({k: v for k, v in d.items() if k != "failed"}, r.failed)
    else:
        out = Path(r.out)
        print(f"{r.n_faces} face(s) of {r.n_photos} photo(s) in {r.n_clusters} cluster(s), {len(r.unclustered)} "
              f"unclustered; {r.n_embedded_now} photo(s) embedded now, {r.n_photos - r.n_embedded_now} from the cache; "
              f"{len(r.no_face)} without a face, {len(r.failed)} failed")
        thr = r.settings.get("threshold")
        if thr is not None:
            print(f"method {r.settings['method']}, threshold {thr:.4f} ({r.settings['threshold_source']})")
        if r.check_first:
            ids = ", ".join(f"{c['cluster']} (two groups {c['gap']:.2f} apart)" for c in r.check_first)
            print(f"check first: {ids}; cut one with `facenet cluster split {out} CLUSTER`")
        print(f"wrote {out / 'index.html'} and {out / 'assignments.json'}")
    return 1 if (r.failed or r.n_faces == 0) else 0


def _name(args: argparse.Namespace) -> int:
    from facenet.cluster.run import name_cluster

    if len(args.rest) != 3:
        raise UsageError("cluster name: give OUT CLUSTER NAME (e.g. facenet cluster name people/ 3 \"Ada Lovelace\")")
    out, ref, name = args.rest
    c = name_cluster(out, ref, name)
    if args.json:
        emit_json({"cluster": c.id, "name": c.name, "folder": c.folder, "faces": c.size})
    else:
        print(f"cluster {c.id} is now {c.name!r} ({c.size} face(s), folder {Path(out) / c.folder})")
    return 0


def _enroll(args: argparse.Namespace) -> int:
    from facenet.cluster.run import enroll_cluster, load_run
    from facenet.commands.gallery_args import gallery_location
    from facenet.gallery.open import open_gallery

    if len(args.rest) != 2:
        raise UsageError("cluster enroll: give OUT CLUSTER (and --gallery G, --name NAME when the cluster has none)")
    out, ref = args.rest
    r = load_run(out)
    loc = gallery_location(args)
    pipe = _pipeline(r.settings.get("detector", "yunet"), r.model.get("model", "sface"), bool(r.model.get("flip")), None)
    with open_gallery(loc, pipe, create=True) as g:
        c, added = enroll_cluster(out, ref, g, args.person)
        total = len(g.faces(c.name))
    if args.json:
        emit_json({"cluster": c.id, "name": c.name, "folder": c.folder, "faces_added": added, "faces_now": total,
                   "gallery": loc})
    else:
        print(f"{c.name}: {added} face(s) of cluster {c.id} enrolled in {loc} ({total} in total); the cluster is named so")
    return 0


def _split(args: argparse.Namespace) -> int:
    from facenet.cluster.edit import split_cluster

    if len(args.rest) != 2:
        raise UsageError("cluster split: give OUT CLUSTER (e.g. facenet cluster split people/ 3)")
    out, ref = args.rest
    r = split_cluster(out, ref, 2 if args.min_size is None else args.min_size)
    if args.json:
        emit_json(r.to_dict())
    else:
        k, n = r.kept, r.new
        label = f"{k.id} ({k.name})" if k.name else str(k.id)
        print(f"cluster {label} split: {k.size} face(s) stay in {Path(out) / k.folder}, {n.size} move to cluster {n.id} "
              f"({Path(out) / n.folder}); the two groups are {r.gap:.3f} farther apart than within themselves "
              "(squared L2)")
    return 0
