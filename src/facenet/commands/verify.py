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
    add_pipeline_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.distance import Verification, squared_l2

    pipe = build_pipeline(args)
    threshold = pipe.require_threshold()  # before any image is read
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
