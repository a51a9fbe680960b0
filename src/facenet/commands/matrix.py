"""`facenet matrix IMG... --out FIG.png`: the paper's Figure 1."""

from __future__ import annotations

import argparse
from pathlib import Path

from facenet.commands.common import add_pipeline_args, build_pipeline, emit_json, error, load_each, read_path_list, warn


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("matrix", help="figure of faces with the pairwise distances between them")
    p.add_argument("images", nargs="*", help="image files")
    p.add_argument("--list", metavar="FILE", help="text file of image paths")
    p.add_argument("--out", required=True, metavar="FIG.png")
    p.add_argument("--json", action="store_true", help="also print the distance matrix as JSON")
    add_pipeline_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.distance import pairwise_squared_l2
    from facenet.eval.matrix_figure import plot_distance_matrix
    import numpy as np

    paths = read_path_list(args.list, args.images)
    if len(paths) < 2:
        error("matrix needs at least 2 images")
        return 2
    pipe = build_pipeline(args)
    ok, failed = load_each(pipe, paths)
    if len(ok) < 2:
        error("fewer than 2 images could be read")
        return 1
    crops, _, found = pipe.primary_crops([img for _, img in ok])
    for (p, _), f in zip(ok, found):
        if not f:
            warn(f"{p}: no face found; used the fallback centre crop")
    dist = pairwise_squared_l2(pipe.embed_faces(crops))
    labels = [Path(p).stem for p, _ in ok]
    out = plot_distance_matrix(crops, dist, pipe.threshold, args.out, labels=labels)
    if args.json:
        emit_json({"out": str(out), "paths": [p for p, _ in ok], "distances": np.round(dist, 4), "threshold": pipe.threshold, "failed": failed})
    else:
        print(f"wrote {out} ({len(ok)} faces)")
    return 1 if failed else 0
