"""`facenet calibrate [--lfw-root DIR | --folder DIR] [--target accuracy | --far 1e-3] [--json]`

Which threshold should verification use? Fits one on development pairs (LFW View 1 by default,
or a labelled folder ``DIR/<identity>/<image>``) and says what it gives: accuracy, false-accept
rate (FAR) and true-accept rate (TAR) on those pairs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facenet.commands.common import add_pipeline_args, build_pipeline, emit_json, warn


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="choose a verification threshold on development pairs",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--lfw-root", metavar="DIR",
                     help="LFW folder holding pairsDevTrain.txt + pairsDevTest.txt (View 1); "
                          "default: $FACENET_DATA/lfw or ../shared/data/lfw")
    src.add_argument("--folder", metavar="DIR", help="your own labelled photos: DIR/<identity>/<image>")
    p.add_argument("--target", choices=["accuracy", "far"], default="accuracy",
                   help="best accuracy (default), or the loosest threshold within a FAR (with --far)")
    p.add_argument("--far", type=float, default=None, metavar="RATE",
                   help="the threshold whose false-accept rate is at most RATE, e.g. 1e-3 (implies --target far)")
    p.add_argument("--max-pairs", type=int, default=6000, help="with --folder: at most this many pairs (default 6000)")
    p.add_argument("--seed", type=int, default=0, help="with --folder: seed of the pair sample (default 0)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.add_argument("--no-progress", action="store_true")
    add_pipeline_args(p)
    p.set_defaults(func=run)


def _pairs(args: argparse.Namespace) -> tuple[Any, str, Any]:
    """(pairs, what they are, names of the two halves or None)."""
    from facenet.eval.calibrate import VIEW1_NAMES, folder_pairs, view1_pairs

    if args.folder:
        return folder_pairs(args.folder, max_pairs=args.max_pairs, seed=args.seed), f"{args.folder}", None
    if args.lfw_root:
        root = Path(args.lfw_root)
    else:
        from facenet.settings import Settings

        root = Settings.from_env().face_data_or_default() / "lfw"
        if not root.is_dir():
            from facenet.errors import DataError

            raise DataError(f"LFW not found at {root}: give --lfw-root DIR (the folder holding pairsDevTrain.txt), "
                            "set FACENET_DATA to the folder holding lfw/, or use --folder DIR for your own photos.")
    return view1_pairs(root), "LFW View 1", VIEW1_NAMES


def run(args: argparse.Namespace) -> int:
    from facenet.eval.calibrate import ThresholdCalibrator, calibrate

    calibrator = ThresholdCalibrator(target=args.target, far=args.far)
    calibrator.check_params()  # a bad --target/--far is a usage error before anything is loaded
    pairs, source, halves = _pairs(args)
    pipe = build_pipeline(args)
    res = calibrate(pipe, pairs, calibrator, progress=not args.no_progress, source=source, fold_names=halves)
    if res.no_face:
        warn(f"no face found in {res.no_face} of {res.n_images} images; their fallback centre crops were used")
    if args.json:
        emit_json(res.to_dict())
        return 0
    c = res.calibrator
    goal = "best accuracy" if c.target_ == "accuracy" else f"FAR at most {c.far:g}"
    print(f"threshold {c.threshold_:.4f} (squared L2): accuracy {100 * c.accuracy_:.2f}%, "
          f"FAR {100 * c.far_:.2f}%, TAR {100 * c.tar_:.2f}% on {c.n_pairs_:,} "
          + (f"pairs from {source}" if args.folder else f"{source} pairs"))
    print(f"  chosen for   {goal}; {c.n_same_:,} same / {c.n_diff_:,} different pairs, {res.n_images:,} images")
    print(f"  pipeline     {res.detector} + {res.embedder}, flip {'on' if res.flip else 'off'}; "
          + ("threshold in use now " + (f"{res.current_threshold:.4f}" if res.current_threshold is not None
                                       else "none (the model is uncalibrated)")))
    for h in res.heldout:
        print(f"  held out     {h['half']} ({h['n_pairs']:,} pairs) at {h['fitted_on']}'s threshold "
              f"{h['threshold']:.4f}: accuracy {100 * h['accuracy']:.2f}%, FAR {100 * h['far']:.2f}%, "
              f"TAR {100 * h['tar']:.2f}%")
    print(f"  no face      {res.no_face} images (fallback crop used)")
    return 0
