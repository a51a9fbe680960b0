"""`facenet demo`: the whole pipeline on a few LFW photos (what `make demo` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from facenet.commands.common import error

PEOPLE = ("George_W_Bush", "Colin_Powell", "Tony_Blair", "Serena_Williams")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run detect/align/embed/verify/matrix and one LFW fold on the shared data")
    p.add_argument("--data", help="data folder holding lfw/ (default: $FACENET_DATA or ../shared/data)")
    p.add_argument("--out", default="out/demo", help="folder for the figures (default out/demo)")
    p.add_argument("--no-eval", action="store_true", help="skip the one-fold LFW evaluation")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from facenet.data.lfw import read_pairs
    from facenet.detect.draw import draw_detections, save_rgb
    from facenet.distance import pairwise_squared_l2
    from facenet.eval.benchmark import evaluate_pairs
    from facenet.eval.matrix_figure import plot_distance_matrix
    from facenet.pipeline import FacePipeline
    from facenet.settings import Settings

    root = (Path(args.data) if args.data else Settings.from_env().face_data_or_default()) / "lfw"
    if not root.is_dir():
        error(f"no LFW at {root}; pass --data DIR (the folder holding lfw/) or get it with `facenet data lfw --download DIR`")
        return 1
    out = Path(args.out)
    pipe = FacePipeline(detector="yunet", embedder="sface")
    paths = [root / n / f"{n}_{i:04d}.jpg" for n in PEOPLE for i in (1, 2)]
    print(f"1. detect + align + embed {len(paths)} LFW photos of {len(PEOPLE)} people with YuNet + SFace")
    crops = pipe.cropper.crop_primary(paths).crops
    dist = pairwise_squared_l2(pipe.embed_faces(crops))
    fig = plot_distance_matrix(crops, dist, pipe.threshold, out / "matrix.png", labels=[p.stem for p in paths])
    print(f"   distance matrix figure (the paper's Figure 1): {fig}")
    print("2. verify (squared L2, threshold %.3f calibrated on LFW View 1):" % pipe.threshold)
    for i in range(0, len(paths), 2):
        for j in (i + 1, (i + 2) % len(paths)):
            v = dist[i, j]
            print(f"   {paths[i].stem:>22s} vs {paths[j].stem:<22s} d={v:.3f} -> {'same' if v < pipe.threshold else 'different'}")
    imgs = [pipe.load(p) for p in paths[::2]]
    group = np.concatenate([np.concatenate(imgs[:2], 1), np.concatenate(imgs[2:4], 1)], 0)
    det = pipe.detect(group)
    print(f"3. a 2x2 group photo: {len(det)} faces found -> {save_rgb(draw_detections(group, det), out / 'group.png')}")
    if not args.no_eval:
        pairs = read_pairs(root / "pairs.txt", root)
        pairs = pairs.subset(pairs.folds == 0)
        r = evaluate_pairs(pipe, pairs).report
        acc = "n/a (no calibrated threshold)" if r.accuracy_mean is None else \
            f"{100 * r.accuracy_mean:.2f}% at the calibrated threshold"
        auc = "n/a" if r.auc is None else f"{r.auc:.4f}"
        ips = "n/a" if r.images_per_second is None else f"{r.images_per_second:.1f}"
        print(f"4. LFW View 2 fold 1 ({r.n_pairs} pairs): accuracy {acc}, AUC {auc}, {ips} images/s")
    return 0
