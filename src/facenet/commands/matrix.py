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
    from facenet.align.crop import align_detections, fallback_crop
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
    r = pipe.represent([img for _, img in ok])
    crops = []
    for (p, img), found, box in zip(ok, r.face_found, r.boxes):
        if found:
            det = pipe.detect(img)
            crops.append(align_detections(img, det.select(det.primary(img.shape, pipe.face_policy)), pipe.crop_size)[0])
        else:
            warn(f"{p}: no face found; used the fallback centre crop")
            crops.append(fallback_crop(img, pipe.crop_size))
    dist = pairwise_squared_l2(r.embeddings)
    labels = [Path(p).stem for p, _ in ok]
    out = plot_distance_matrix(np.stack(crops), dist, pipe.threshold, args.out, labels=labels)
    if args.json:
        emit_json({"out": str(out), "paths": [p for p, _ in ok], "distances": np.round(dist, 4), "threshold": pipe.threshold, "failed": failed})
    else:
        print(f"wrote {out} ({len(ok)} faces)")
    return 1 if failed else 0
