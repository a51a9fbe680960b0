"""`facenet calibrate [--lfw-root DIR | --folder DIR] [--target accuracy | --far 1e-3] [--gallery G [--fpir 1e-2]] [--json]`

Which threshold should verification use? Fits one on development pairs (LFW View 1 by default,
or a labelled folder ``DIR/<identity>/<image>``) and says what it gives: accuracy, false-accept
rate (FAR) and true-accept rate (TAR) on those pairs.

With ``--gallery G`` the calibration is stored with the gallery: ``facenet verify --gallery G``
uses its verification threshold, and the gallery's identification threshold comes from the
impostor distances of the same photos (every photo against every other identity's), adapted to
the people enrolled and solved for the FPIR target (``--fpir``, default the gallery's, 1e-2) at
the gallery's size: the command prints what that threshold is for galleries of 10 to 100,000
people.
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
    p.add_argument("--gallery", metavar="G", help="store the calibration with this gallery (file or postgresql:// URL; "
                                                  "created for the pipeline's model when missing)")
    p.add_argument("--fpir", type=float, default=None, metavar="RATE",
                   help="with --gallery: the identification target, the share of strangers matched to somebody "
                        "(default: the gallery's, 1e-2)")
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


SIZES = (10, 100, 1000, 10000, 100000)


def _identities(args: argparse.Namespace, paths: list[Path]) -> list[str]:
    """The identity of each calibration photo: its folder under --folder, LFW's person folder."""
    if args.folder:
        root = Path(args.folder)
        return [p.relative_to(root).parts[0] if p.is_relative_to(root) else p.parent.name for p in paths]
    return [p.parent.name for p in paths]


def _store(args: argparse.Namespace, pipe: Any, res: Any, source: str) -> dict[str, Any]:
    """Keep the calibration with --gallery; what the gallery's thresholds are now."""
    import numpy as np

    from facenet.gallery.gallery import identity_of
    from facenet.gallery.impostor import impostor_model_from_photos
    from facenet.gallery.open import open_gallery
    from facenet.validation import check_scalar

    if args.fpir is not None:
        check_scalar(args.fpir, "fpir", float, min_val=0.0, max_val=1.0, include="neither", owner="calibrate")
    ident = identity_of(pipe)
    found = res.face_found
    labels = np.asarray(_identities(args, res.paths))[found]
    name = ident.model + ("+flip" if ident.flip else "")
    model = impostor_model_from_photos(res.embeddings[found], labels, name, source)
    if model is None:
        warn(f"{len(set(labels.tolist()))} identities are too few for an identification model (20 or more); "
             "only the verification threshold is stored")
    verification = {**res.calibrator.to_dict(), "source": source, "model": ident.to_dict(), "n_images": res.n_images}
    with open_gallery(args.gallery, pipe) as g:
        g.store_calibration(verification, model)
        if args.fpir is not None:
            g.set_fpir(args.fpir)
        stats = g.stats()
        fpir = stats["fpir_target"]
    sizes = {str(n): round(model.threshold(n, fpir), 4) for n in SIZES} if model is not None else {}
    return {"location": str(args.gallery), "verification_threshold": res.threshold, "identification_threshold": stats["threshold"],
            "identification_source": stats["threshold_source"], "subjects": stats["subjects"], "fpir_target": fpir,
            "identification_threshold_by_size": sizes, "impostor_model": None if model is None else model.meta}


def run(args: argparse.Namespace) -> int:
    from facenet.eval.calibrate import ThresholdCalibrator, calibrate

    calibrator = ThresholdCalibrator(target=args.target, far=args.far)
    calibrator.check_params()  # a bad --target/--far is a usage error before anything is loaded
    if args.fpir is not None and not args.gallery:
        from facenet.errors import UsageError

        raise UsageError("calibrate: --fpir sets a gallery's identification target; give --gallery G too.")
    pairs, source, halves = _pairs(args)
    pipe = build_pipeline(args)
    res = calibrate(pipe, pairs, calibrator, progress=not args.no_progress, source=source, fold_names=halves)
    if res.no_face:
        warn(f"no face found in {res.no_face} of {res.n_images} images; their fallback centre crops were used")
    stored = _store(args, pipe, res, source) if args.gallery else None
    if args.json:
        emit_json({**res.to_dict(), **({"gallery": stored} if stored else {})})
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
    if stored:
        print(f"stored with {stored['location']}: `facenet verify --gallery` uses {stored['verification_threshold']:.4f}; "
              f"identification threshold now {stored['identification_threshold']:.4f} ({stored['identification_source']})")
        if stored["identification_threshold_by_size"]:
            row = ", ".join(f"{int(n):,}: {t:.3f}" for n, t in stored["identification_threshold_by_size"].items())
            print(f"  FPIR {stored['fpir_target']:g} by gallery size (before adapting to its people): {row}")
    return 0
