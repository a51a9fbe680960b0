"""Shared pieces of the command-line interface."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable

from facenet.errors import FacenetError, InvalidImageError


def add_pipeline_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("pipeline")
    g.add_argument("--detector", default="yunet", help="face detector: yunet (default) or mtcnn")
    g.add_argument("--embedder", default="sface", help="embedding model (see `facenet models`)")
    g.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    g.add_argument("--backend", default=None, choices=["opencv", "onnxruntime"],
                   help="inference engine for ONNX embedders (default opencv); PyTorch models ignore it")
    g.add_argument("--threshold", type=float, default=None, help="squared-L2 verification threshold (default: the model's calibrated one)")


def build_pipeline(args: argparse.Namespace) -> Any:
    from facenet.pipeline import FacePipeline

    kwargs = {"backend": args.backend} if args.backend else {}
    return FacePipeline(detector=args.detector, embedder=args.embedder, flip=args.flip,
                        threshold=args.threshold, **kwargs)


def error(msg: str) -> None:
    print(f"facenet: error: {msg}", file=sys.stderr)


def warn(msg: str) -> None:
    print(f"facenet: warning: {msg}", file=sys.stderr)


def emit_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=_json_default)
    sys.stdout.write("\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_path_list(list_file: str | None, images: Iterable[str]) -> list[str]:
    """Images named on the command line plus those in a text file (one path a line, '#' comments)."""
    paths = list(images)
    if list_file:
        lf = Path(list_file)
        if not lf.is_file():
            raise InvalidImageError(list_file, "list file not found")
        for line in lf.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line)
                paths.append(str(p if p.is_absolute() else lf.parent / p))
    return paths


def load_each(pipeline: Any, paths: list[str]) -> tuple[list[tuple[str, Any]], list[str]]:
    """Load every image, reporting the bad ones on stderr (one line each) and keeping the rest.
    Returns ([(path, rgb array)], [failed paths])."""
    ok, failed = [], []
    for p in paths:
        try:
            ok.append((p, pipeline.load(p)))
        except FacenetError as exc:
            error(str(exc))
            failed.append(p)
    return ok, failed
