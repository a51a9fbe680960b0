"""`facenet enroll --gallery G --name NAME IMG... [--largest | --face I] [--json]`"""

from __future__ import annotations

import argparse

from facenet.commands.common import emit_result, error, warn
from facenet.commands.gallery_args import add_gallery_arg, add_model_args, open_for


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enroll", help="enrol a person in a gallery from one photo or more (one face per photo)")
    add_gallery_arg(p)
    p.add_argument("--name", required=True, help="the person's name (created if new; photos are added to it)")
    p.add_argument("images", nargs="+", help="photos of the person")
    pick = p.add_mutually_exclusive_group()
    pick.add_argument("--largest", action="store_true", help="use the largest face of a photo with several")
    pick.add_argument("--face", type=int, metavar="I", help="use face I (0 = highest detector score) of each photo")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    face = "largest" if args.largest else (args.face if args.face is not None else "single")
    with open_for(args, create=True) as g:
        r = g.enroll(args.name, args.images, face=face)
        n_faces = len(g.faces(args.name)) if (r.added or r.already_enrolled) else 0
    for e in r.errors:
        error(f"{e.source}: {e.reason}")
    for p in r.already_enrolled:
        warn(f"{p}: already enrolled for {args.name!r} (same photo); nothing to do")
    if args.json:
        emit_result({**{k: v for k, v in r.to_dict().items() if k != "failed"}, "faces_now": n_faces}, r.errors)
    else:
        print(f"{args.name}: {len(r.added)} face(s) enrolled, {len(r.already_enrolled)} already there, "
              f"{len(r.errors)} refused; {n_faces} face(s) in total")
    return 1 if r.errors else 0
