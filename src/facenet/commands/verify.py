"""`facenet verify IMG_A IMG_B [--json]`"""

from __future__ import annotations

import argparse

from facenet.commands.common import add_pipeline_args, build_pipeline, emit_result, load_each, warn


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="are two photos the same person?",
                       description="Are two photos the same person? Squared L2 distance between their primary "
                                   "faces' embeddings, below the threshold: same. A model without a calibrated "
                                   "threshold needs --threshold T (or `facenet calibrate` first).")
    p.add_argument("image_a")
    p.add_argument("image_b")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--gallery", metavar="G", help="use the threshold `facenet calibrate --gallery G` stored with this "
                                                  "gallery (its model must be the pipeline's)")
    add_pipeline_args(p)
    p.set_defaults(func=run)


def _gallery_threshold(args: argparse.Namespace, pipe: object) -> float:
    """The verification threshold stored with --gallery (before any image is read)."""
    from facenet.errors import UsageError
    from facenet.gallery.gallery import identity_of
    from facenet.gallery.open import open_gallery
    from facenet.gallery.store import ModelIdentity

    with open_gallery(args.gallery, pipe, create=False) as g:
        cal = g.verification_calibration()
        made_by = g.identity if cal is None or cal.get("model") is None else ModelIdentity.from_dict(cal["model"])
    if cal is None:
        raise UsageError(f"Gallery {args.gallery} has no stored calibration: run `facenet calibrate --gallery "
                         f"{args.gallery}` first, or leave out --gallery to use the model's threshold.")
    if made_by != identity_of(pipe):  # a harmonic model: the gallery accepts it, but the calibration is another's
        raise UsageError(f"The calibration stored with {args.gallery} was made with {made_by.describe()}, but this "
                         f"pipeline is {identity_of(pipe).describe()}; two photos of one model are not a mixed pair. "
                         "Leave out --gallery to use the model's own threshold.")
    return float(cal["threshold"])


def run(args: argparse.Namespace) -> int:
    from facenet.distance import Verification, squared_l2

    pipe = build_pipeline(args)
    threshold = _gallery_threshold(args, pipe) if args.gallery and args.threshold is None else pipe.require_threshold()
    model = pipe.embedder.config.name
    ok, failed = load_each(pipe, [args.image_a, args.image_b])
    if failed:
        if args.json:
            emit_result({"distance": None, "threshold": threshold, "same": None, "image_a": args.image_a,
                         "image_b": args.image_b, "face_found": None, "model": model}, failed)
        return 1
    r = pipe.represent([img for _, img in ok])
    for (p, _), found in zip(ok, r.face_found):
        if not found:
            warn(f"{p}: no face found; used the fallback centre crop")
    d = float(squared_l2(r.embeddings[0], r.embeddings[1])[0])
    v = Verification(d, threshold, d < threshold)
    if args.json:
        emit_result({**v.to_dict(), "image_a": args.image_a, "image_b": args.image_b,
                     "face_found": [bool(x) for x in r.face_found], "model": model}, [])
    else:
        verdict = "same person" if v.same else "different people"
        print(f"{verdict}: distance {v.distance:.4f} {'<' if v.same else '>='} threshold {v.threshold:.4f}")
    return 0
