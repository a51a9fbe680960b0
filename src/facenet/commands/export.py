"""`facenet export CHECKPOINT --onnx OUT.onnx`"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a training checkpoint to ONNX for the pipeline")
    p.add_argument("checkpoint", help="a checkpoint written by `facenet train` (RUN/last.pt)")
    p.add_argument("--onnx", required=True, metavar="OUT.onnx")
    p.add_argument("--register", metavar="NAME",
                   help="also register the model under NAME (in $FACENET_HOME/models or ~/.cache/facenet/models), "
                        "so that --embedder NAME works")
    p.add_argument("--force", action="store_true", help="with --register: replace a model of that name")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.settings import Settings
    from facenet.train.export import export_onnx

    out, err = export_onnx(args.checkpoint, args.onnx, name=args.register)
    use = str(out)
    if args.register:
        from facenet.models.registry import builtin_models
        from facenet.models.user_models import register_onnx

        path = register_onnx(out, args.register, builtin=builtin_models(), folder=Settings.from_env().models_dir,
                             overwrite=args.force)
        print(f"registered {args.register!r} -> {path}")
        use = args.register
    print(f"wrote {out}; max |onnx - torch| on a test batch = {err:.2e}. "
          f"Use it with: facenet evaluate lfw --embedder {use}")
    return 0
