"""`facenet export CHECKPOINT --onnx OUT.onnx`"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a training checkpoint to ONNX for the pipeline")
    p.add_argument("checkpoint", help="a checkpoint written by `facenet train` (RUN/last.pt)")
    p.add_argument("--onnx", required=True, metavar="OUT.onnx")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.models.export import export_onnx

    out, err = export_onnx(args.checkpoint, args.onnx)
    print(f"wrote {out}; max |onnx - torch| on a test batch = {err:.2e}. "
          f"Use it with: facenet evaluate lfw --embedder {out}")
    return 0
