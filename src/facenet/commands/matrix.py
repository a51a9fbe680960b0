"""`facenet matrix IMG... --out FIG.png`: the paper's Figure 1."""

from __future__ import annotations

import argparse
from pathlib import Path

from facenet.commands.common import (
    add_pipeline_args,
    atomic_output,
    build_pipeline,
    check_output_path,
    emit_result,
    error,
    load_each,
    read_path_list,
    warn,
)
from facenet.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("matrix", help="figure of faces with the pairwise distances between them",
                       description="Figure of the faces with the squared-L2 distance between every two, green "
                                   "below the verification threshold (same person) and red above. A model "
                                   "without a calibrated threshold needs --threshold T.")
    p.add_argument("images", nargs="*", help="image files")
    p.add_argument("--list", metavar="FILE", help="text file of image paths")
    p.add_argument("--out", required=True, metavar="FIG.png",
                   help="figure file, written at exactly this path; its suffix picks the format (.png, .pdf, .svg, ...)")
    p.add_argument("--json", action="store_true", help="also print the distance matrix as JSON")
    add_pipeline_args(p)
    p.set_defaults(func=run)


def _figure_path(path: str) -> Path:
    """The --out path, refused up front (before any embedding work) unless its suffix names a
    format matplotlib writes: without one, matplotlib would append ".png" to the name."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in formats:
        raise UsageError(f"--out {path}: name the figure with a format suffix, one of "
                         f"{', '.join('.' + f for f in formats)} (e.g. fig.png)")
    return check_output_path(path)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from facenet.distance import pairwise_squared_l2
    from facenet.eval.matrix_figure import plot_distance_matrix

    paths = read_path_list(args.list, args.images)
    if len(paths) < 2:
        raise UsageError("matrix needs at least 2 images")
    out = _figure_path(args.out)
    pipe = build_pipeline(args)
    threshold = pipe.require_threshold()  # the figure's colours mean same/different
    ok, failed = load_each(pipe, paths)
    if len(ok) < 2:
        error("fewer than 2 images could be read; no figure written")
        if args.json:
            emit_result({"out": None, "paths": [p for p, _ in ok], "distances": None, "threshold": threshold}, failed)
        return 1
    pc = pipe.cropper.crop_primary([img for _, img in ok])
    crops, found = pc.crops, pc.face_found
    for (p, _), f in zip(ok, found):
        if not f:
            warn(f"{p}: no face found; used the fallback centre crop")
    dist = pairwise_squared_l2(pipe.embed_faces(crops))
    labels = [Path(p).stem for p, _ in ok]
    with atomic_output(out) as tmp:
        plot_distance_matrix(crops, dist, threshold, tmp, labels=labels)
    if args.json:
        emit_result({"out": str(out), "paths": [p for p, _ in ok], "distances": np.round(dist, 4), "threshold": threshold}, failed)
    else:
        print(f"wrote {out} ({len(ok)} faces)")
    return 1 if failed else 0
