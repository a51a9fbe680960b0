"""`facenet evaluate lfw --root DIR [--pairs FILE] [--json] [--plot ROC.png]`"""

from __future__ import annotations

import argparse
from pathlib import Path

from facenet.commands.common import add_pipeline_args, build_pipeline, emit_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="benchmark verification with the LFW 10-fold protocol")
    p.add_argument("dataset", choices=["lfw"], help="benchmark (lfw)")
    p.add_argument("--root", help="LFW image folder (default: $FACENET_DATA/lfw or ../shared/data/lfw)")
    p.add_argument("--pairs", help="pairs file (default: ROOT/pairs.txt, View 2, 10 folds)")
    p.add_argument("--folds", type=int, nargs="*", help="evaluate only these folds (0-based), e.g. --folds 0")
    p.add_argument("--far", type=float, default=1e-3, help="FAR for VAL@FAR (default 1e-3)")
    p.add_argument("--json", action="store_true", help="machine-readable metrics")
    p.add_argument("--plot", metavar="ROC.png", help="save the ROC curve")
    p.add_argument("--failures", metavar="FILE", help="write the images with no detected face, one a line")
    p.add_argument("--no-progress", action="store_true")
    add_pipeline_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from facenet.data.lfw import lfw_root, read_pairs
    from facenet.eval.benchmark import evaluate_pairs
    from facenet.eval.plots import plot_roc
    from facenet.eval.protocol import roc_curve

    root = Path(args.root) if args.root else lfw_root()
    pairs = read_pairs(Path(args.pairs) if args.pairs else root / "pairs.txt", root)
    if args.folds:
        pairs = pairs.subset(np.isin(pairs.folds, args.folds))
    pipe = build_pipeline(args)
    ev = evaluate_pairs(pipe, pairs, far_target=args.far, progress=not args.no_progress)
    m = ev.metrics
    if args.plot:
        fpr, tpr, _ = roc_curve(ev.distances, ev.same)
        label = f"{m['detector']}+{m['embedder']}{' flip' if m['flip'] else ''} (AUC {m['auc']:.4f})"
        m["plot"] = str(plot_roc({label: (fpr, tpr)}, args.plot, title="LFW ROC"))
    if args.failures:
        Path(args.failures).write_text("".join(p + "\n" for p in ev.failed_images))
    if args.json:
        emit_json(m)
    else:
        print(f"LFW {m['n_pairs']} pairs, {m['n_folds']} folds, {m['n_images']} images "
              f"({m['detector']} + {m['embedder']}{', flip TTA' if m['flip'] else ''})")
        print(f"  accuracy     {100 * m['accuracy_mean']:.2f} ± {100 * m['accuracy_std']:.2f} %")
        if m["val_mean"] is not None:
            print(f"  VAL@FAR={args.far:g} {100 * m['val_mean']:.2f} ± {100 * m['val_std']:.2f} %")
        print(f"  AUC          {m['auc']:.5f}")
        print(f"  EER          {100 * m['eer']:.2f} %")
        print(f"  no face      {m['detection_failures']} images (fallback crop used)")
        print(f"  speed        {m['images_per_second']} images/s")
    return 0
