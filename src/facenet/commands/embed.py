"""`facenet embed IMG... --out FILE.npz [--list FILE]`"""

from __future__ import annotations

import argparse

from facenet.commands.common import (
    add_pipeline_args,
    atomic_output,
    build_pipeline,
    check_output_path,
    emit_result,
    load_each,
    read_path_list,
    warn,
)
from facenet.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="128-D embeddings of the primary face of each image, to .npz")
    p.add_argument("images", nargs="*", help="image files")
    p.add_argument("--list", metavar="FILE", help="text file of image paths, one a line")
    p.add_argument("--out", required=True, metavar="FILE.npz",
                   help="output, written at exactly this path (NumPy .npz format whatever its name): "
                        "paths, embeddings (N, D), face_found, boxes, scores, model")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    add_pipeline_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    paths = read_path_list(args.list, args.images)
    if not paths:
        raise UsageError("no images given (name files or use --list FILE)")
    out = check_output_path(args.out)
    pipe = build_pipeline(args)
    ok, failed = load_each(pipe, paths)
    names = [p for p, _ in ok]
    r = pipe.represent([img for _, img in ok]) if ok else None
    d = pipe.embedder.config.embedding_size
    with atomic_output(out) as tmp, open(tmp, "wb") as f:  # a file handle: np.savez adds no ".npz"
        np.savez(
            f,
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
    if args.json:
        emit_result({"out": str(out), "n_embedded": len(names), "no_face": no_face, "embedding_size": d}, failed)
    else:
        print(f"wrote {len(names)} embeddings ({d}-D) to {out}; {len(no_face)} without a detected face, {len(failed)} failed")
    return 1 if failed else 0
