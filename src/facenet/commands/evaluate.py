"""`facenet evaluate lfw --root DIR [--pairs FILE] [--folds K ..] [--json] [--plot ROC.png]`"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facenet.commands.common import add_pipeline_args, build_pipeline, emit_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="benchmark verification with the LFW 10-fold protocol")
    p.add_argument("dataset", choices=["lfw"], help="benchmark (lfw)")
    p.add_argument("--root", help="LFW image folder (default: $FACENET_DATA/lfw or ../shared/data/lfw)")
    p.add_argument("--pairs", help="pairs file (default: ROOT/pairs.txt, View 2, 10 folds)")
    p.add_argument("--folds", type=int, nargs="*",
                   help="evaluate only these folds (0-based), e.g. --folds 0; with one fold, accuracy is at the "
                        "calibrated threshold")
    p.add_argument("--far", type=float, default=1e-3, help="FAR for VAL@FAR (default 1e-3)")
    p.add_argument("--json", action="store_true", help="the VerificationReport as JSON (same keys for any fold count)")
    p.add_argument("--plot", metavar="ROC.png", help="save the ROC curve")
    p.add_argument("--failures", metavar="FILE", help="write the images with no detected face, one a line")
    p.add_argument("--no-progress", action="store_true")
    add_pipeline_args(p)
    p.set_defaults(func=run)


def _pct(x: float | None, std: float | None = None) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.2f} %" if std is None else f"{100 * x:.2f} ± {100 * std:.2f} %"


def print_report(r: Any) -> None:
    """The human-readable form of a :class:`~facenet.eval.report.VerificationReport`."""
    print(f"LFW {r.n_pairs} pairs, {r.n_folds} fold{'s' if r.n_folds != 1 else ''}, {r.n_images} images "
          f"({r.detector} + {r.embedder}{', flip TTA' if r.flip else ''})")
    print(f"  protocol     {r.protocol}")
    acc = _pct(r.accuracy_mean, r.accuracy_std)
    print(f"  accuracy     {acc if r.accuracy_mean is not None else 'n/a (one fold and no calibrated threshold)'}")
    if r.threshold_mean is not None:
        print(f"  threshold    {r.threshold_mean:.4f}" + (" (mean over folds)" if r.n_folds > 1 else ""))
    far = f" (actual FAR {_pct(r.far_actual)})" if r.far_actual is not None else ""
    print(f"  VAL@FAR={r.far_target:g} {_pct(r.val_mean, r.val_std)}{far}")
    print(f"  AUC          {'n/a' if r.auc is None else f'{r.auc:.5f}'}")
    print(f"  EER          {_pct(r.eer)}")
    print(f"  no face      {r.no_face} of {r.n_images} images (fallback crop used)")
    ips = "n/a" if r.images_per_second is None else f"{r.images_per_second:.1f}"
    print(f"  speed        {ips} images/s")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from facenet.data.lfw import lfw_root, read_pairs
    from facenet.errors import UsageError
    from facenet.eval.benchmark import evaluate_pairs
    from facenet.settings import Settings

    root = Path(args.root) if args.root else lfw_root(Settings.from_env().face_data_or_default())
    pairs_file = Path(args.pairs) if args.pairs else root / "pairs.txt"
    pairs = read_pairs(pairs_file, root)
    if args.folds:
        have = sorted(set(pairs.folds.tolist()))
        missing = sorted(set(args.folds) - set(have))
        if missing:
            raise UsageError(f"--folds {' '.join(map(str, missing))}: no such fold in {pairs_file} "
                             f"(its folds: {have[0]}..{have[-1]})")
        pairs = pairs.subset(np.isin(pairs.folds, args.folds))
    pipe = build_pipeline(args)
    ev = evaluate_pairs(pipe, pairs, far_target=args.far, progress=not args.no_progress)
    r = ev.report
    if args.plot:
        from facenet.eval.plots import plot_roc
        from facenet.eval.protocol import roc_curve

        fpr, tpr, _ = roc_curve(ev.distances, ev.same)
        auc = "" if r.auc is None else f" (AUC {r.auc:.4f})"
        plot = plot_roc({f"{r.detector}+{r.embedder}{' flip' if r.flip else ''}{auc}": (fpr, tpr)}, args.plot,
                        title="LFW ROC")
    if args.failures:
        Path(args.failures).write_text("".join(p + "\n" for p in ev.failed_images))
    if args.json:
        emit_json(r.to_dict())
    else:
        print_report(r)
        if args.plot:
            print(f"  ROC curve    {plot}")
    return 0
