"""`facenet align SRC DST [--detector mtcnn|yunet] [--size N] [--workers N] [--policy ...]`"""

from __future__ import annotations

import argparse

from facenet.commands.common import emit_json
from facenet.detect.types import FACE_POLICIES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="align a folder of identity sub-folders into face crops (resumable)")
    p.add_argument("src", help="folder of <identity>/<photo> raw images")
    p.add_argument("dst", help="output folder (same layout, PNG crops)")
    p.add_argument("--detector", default="mtcnn", help="mtcnn (default) or yunet")
    p.add_argument("--size", type=int, default=112, help="crop side in pixels (default 112)")
    p.add_argument("--template", default="arcface_112", help="arcface_112 (landmarks) or box_margin_<M>")
    p.add_argument("--policy", default="central", choices=[*FACE_POLICIES, "skip"],
                   help="photos with several faces: align the face this policy picks (central: large and near the "
                        "centre; largest; score: highest detector score), or skip them")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.align.folder import align_folder

    r = align_folder(args.src, args.dst, detector=args.detector, size=args.size, policy=args.policy,
                     workers=args.workers, template=args.template, progress=not args.json)
    if args.json:
        emit_json(r.to_dict())
    else:
        print(f"aligned {r.aligned}, already done {r.already_done}, no face {len(r.no_face)}, "
              f"several faces {len(r.several_faces)} (skipped {len(r.skipped_several)}), failed {len(r.failed)}; "
              f"report: {args.dst}/align_report.json")
        for f in r.failed:
            print(f"facenet: error: {f}")
    return 1 if r.failed else 0
