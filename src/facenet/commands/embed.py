"""`facenet embed IMG... --out FILE.npz [--list FILE]`"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facenet.commands.common import add_pipeline_args, build_pipeline, emit_json, error, load_each, read_path_list, warn


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="128-D embeddings of the primary face of each image, to .npz")
    p.add_argument("images", nargs="*", help="image files")
    p.add_argument("--list", metavar="FILE", help="text file of image paths, one a line")
    p.add_argument("--out", required=True, metavar="FILE.npz", help="output: paths, embeddings (N, D), face_found, boxes, scores")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    add_pipeline_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = read_path_list(args.list, args.images)
    if not paths:
        error("no images given (name files or use --list FILE)")
        return 2
    pipe = build_pipeline(args)
    ok, failed = load_each(pipe, paths)
    names = [p for p, _ in ok]
    r = pipe.represent([img for _, img in ok]) if ok else None
    d = pipe.embedder.config.embedding_size
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        paths=np.asarray(names, dtype=str),
        embeddings=r.embeddings if r else np.zeros((0, d), np.float32),
        face_found=r.face_found if r else np.zeros(0, bool),
        boxes=r.boxes if r else np.zeros((0, 4), np.float32),
        scores=r.scores if r else np.zeros(0, np.float32),
        model=np.asarray(pipe.embedder.config.name),
    )
    no_face = [n for n, f in zip(names, r.face_found) if not f] if r else []
    for p in no_face:
        warn(f"{p}: no face found; embedded the fallback centre crop (face_found=False)")
    summary = {"out": str(out), "n_embedded": len(names), "no_face": no_face, "failed": failed, "embedding_size": d}
    if args.json:
        emit_json(summary)
    else:
        print(f"wrote {len(names)} embeddings ({d}-D) to {out}; {len(no_face)} without a detected face, {len(failed)} failed")
    return 1 if failed else 0
