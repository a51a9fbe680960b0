"""Shared pieces of the command-line interface.

Failures of single inputs have one shape in every command: :func:`load_each` reports each bad
file on stderr (``facenet: error: PATH: reason``, one line) and returns it as an
:class:`~facenet.errors.ItemError`; :func:`emit_result` prints a command's ``--json`` object with a
top-level ``"failed"`` list of ``{"index", "path", "error"}`` objects (``[]`` when all went well),
and the command exits 1 when that list is not empty.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from facenet.errors import FacenetError, ItemError, UsageError

#: --preset: the embedder each one uses (``--embedder`` wins when given).
PRESETS = {"fast": "sface", "accurate": "fused"}


def add_pipeline_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("pipeline")
    g.add_argument("--detector", default="yunet", help="face detector: yunet (default) or mtcnn")
    g.add_argument("--embedder", default=None, help="embedding model (see `facenet models`; default: the preset's)")
    g.add_argument("--preset", choices=sorted(PRESETS), default="fast",
                   help="fast (default): YuNet + SFace; accurate: YuNet + fused (SFace + dlib ResNet, "
                        "comparable with SFace; about 4.6x slower)")
    g.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    g.add_argument("--backend", default=None, choices=["opencv", "onnxruntime"],
                   help="inference engine for ONNX embedders (default opencv); PyTorch models ignore it")
    g.add_argument("--threshold", type=float, default=None,
                   help="squared-L2 verification threshold (default: the model's calibrated one; "
                        "required for a model without one)")


def build_pipeline(args: argparse.Namespace) -> Any:
    from facenet.pipeline import FacePipeline

    kwargs = {"backend": args.backend} if args.backend else {}
    return FacePipeline(detector=args.detector, embedder=args.embedder or PRESETS[args.preset], flip=args.flip,
                        threshold=args.threshold, **kwargs)


def error(msg: str) -> None:
    print(f"facenet: error: {msg}", file=sys.stderr)


def warn(msg: str) -> None:
    print(f"facenet: warning: {msg}", file=sys.stderr)


def emit_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout (numpy values, paths and ItemErrors converted)."""
    json.dump(obj, sys.stdout, indent=2, default=_json_default)
    sys.stdout.write("\n")


def emit_result(payload: Mapping[str, Any], failed: Sequence[ItemError]) -> None:
    """Print a command's ``--json`` result: ``payload`` plus the uniform top-level ``"failed"``
    list, one ``{"index", "path", "error"}`` object per input that could not be used."""
    emit_json({**payload, "failed": [f.to_dict() for f in failed]})


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, ItemError):
        return o.to_dict()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_path_list(list_file: str | None, images: Iterable[str]) -> list[str]:
    """Images named on the command line plus those in a text file (one path a line, '#' comments;
    relative paths are relative to the list file's folder)."""
    paths = list(images)
    if list_file:
        lf = Path(list_file)
        if not lf.is_file():
            raise UsageError(f"--list {list_file}: no such file")
        for line in lf.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line)
                paths.append(str(p if p.is_absolute() else lf.parent / p))
    return paths


def load_each(loader: Callable[[str], Any] | Any, paths: Sequence[str]) -> tuple[list[tuple[str, Any]], list[ItemError]]:
    """Load every image, keeping the good ones and reporting each bad one on stderr (one
    ``facenet: error: PATH: reason`` line).

    loader: a function from a path to an (H, W, 3) uint8 RGB array that raises a FacenetError for
        a bad input (``pipe.load``, ``facenet.data.images.load_image``), or an object with such a
        ``load`` method (a FacePipeline).
    Returns ([(path, rgb array)] for the images that loaded, in order; [ItemError(index in
    ``paths``, path, reason)] for those that did not). A usage error is not an item failure and
    propagates.
    """
    load = loader.load if hasattr(loader, "load") else loader
    ok: list[tuple[str, Any]] = []
    failed: list[ItemError] = []
    for i, p in enumerate(paths):
        try:
            ok.append((p, load(p)))
        except UsageError:
            raise
        except FacenetError as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            error(f"{p}: {reason}")
            failed.append(ItemError(i, str(p), reason))
    return ok, failed


def check_output_path(path: str | Path, option: str = "--out") -> Path:
    """Refuse an output path that is an existing folder (before any work is done) and create its
    parent folders. Returns it as a Path."""
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"{option} {path} is a folder; name the file to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Write ``path`` all at once: yields a new empty temporary file in the same folder (same
    suffix, so format-by-extension writers work); when the block ends normally the file is
    flushed to disk and renamed onto ``path`` (``os.replace``), and on any error it is removed, so
    ``path`` is never left half written. The file gets the usual permissions (umask applied)."""
    out = Path(path)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{out.suffix}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
