"""Command-line entry point: ``facenet <command> ...``. ``main(argv) -> int`` is what tests call."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from facenet.commands import (
    align,
    calibrate,
    cluster,
    data,
    demo,
    detect,
    embed,
    enroll,
    evaluate,
    export,
    gallery,
    identify,
    keys,
    matrix,
    models,
    serve,
    train,
    verify,
)
from facenet.errors import FacenetError, UsageError

COMMANDS = (detect, embed, verify, matrix, evaluate, calibrate, enroll, identify, gallery, cluster, models, data, demo, align, train, export,
            serve, keys)


def build_parser() -> argparse.ArgumentParser:
    from facenet import __version__

    parser = argparse.ArgumentParser(prog="facenet", description="Face detection, alignment, embeddings, verification, "
                                     "recognition (galleries), clustering, evaluation and an HTTP service.")
    parser.add_argument("--version", action="version", version=f"facenet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        mod.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Returns the exit code: 0 success, 1 some inputs failed, 2 usage error."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except UsageError as exc:  # an unknown model or detector, a missing threshold, ...: exit 2
        return _fail(exc, 2)
    except FacenetError as exc:  # bad data, missing weights: exit 1
        return _fail(exc, 1)
    except ValueError as exc:  # argument validation in constructors (sklearn-style messages)
        return _fail(exc, 2)
    except BrokenPipeError:  # e.g. `facenet ... --json | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # an output that cannot be written (permissions, full disk, ...)
        return _fail(exc, 1)
    except KeyboardInterrupt:
        print("facenet: interrupted", file=sys.stderr)
        return 130


def _fail(exc: BaseException, code: int) -> int:
    """One ``facenet: error: ...`` line on stderr (never a traceback); returns the exit code."""
    msg = " ".join(str(exc).split()) or type(exc).__name__
    print(f"facenet: error: {msg}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
