"""`facenet identify --gallery G IMG... [--k 5] [--json] [--draw OUT.png]`"""

from __future__ import annotations

import argparse

from facenet.commands.common import emit_result, load_each
from facenet.commands.gallery_args import add_gallery_arg, add_model_args, open_for


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("identify", help="who is it? every face of every photo: name or unknown, distance, top-k")
    add_gallery_arg(p)
    p.add_argument("images", nargs="+", help="photos")
    p.add_argument("--k", type=int, default=5, help="candidates per face (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--draw", metavar="OUT.png", help="save each photo with its faces boxed and named")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.commands.detect import draw_targets
    from facenet.detect.draw import draw_named

    if args.k < 1:
        from facenet.errors import UsageError

        raise UsageError(f"The 'k' parameter of identify must be an int in [1, inf). Got {args.k} instead.")
    with open_for(args, create=False) as g:
        threshold, source = g.threshold()
        ok, failed = load_each(g.pipeline, args.images)
        targets = dict(zip([p for p, _ in ok], draw_targets(args.draw, [p for p, _ in ok]))) if args.draw and ok else {}
        results = []
        for path, img in ok:
            r = g.identify(img, k=args.k)[0]
            row = {**r.to_dict(), "path": path}
            if args.draw:
                row["drawing"] = str(draw_named(img, r, targets[path]))
            results.append(row)
            if not args.json:
                print(f"{path}: {len(r.faces)} face(s)")
                for f in r.faces:
                    near = ", ".join(f"{c.name} {c.distance:.3f}" for c in f.candidates[:3])
                    print(f"  {f.name:<20s} distance {f.distance:.4f} (threshold {f.threshold:.4f})  nearest: {near}")
    if args.json:
        emit_result({"threshold": threshold, "threshold_source": source, "images": results}, failed)
    return 1 if failed else 0
