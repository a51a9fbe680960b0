"""`facenet data lfw --download DIR`"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="fetch a benchmark data set")
    p.add_argument("dataset", choices=["lfw"])
    p.add_argument("--download", required=True, metavar="DIR", help="destination folder")
    p.add_argument("--url", help="archive URL (default: the official LFW location)")
    p.add_argument("--sha256", help="expected SHA-256 of the archive")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.data import download

    kwargs = {}
    if args.url:
        kwargs["url"] = args.url
    if args.sha256:
        kwargs["sha256"] = args.sha256
    out = download.download_lfw(Path(args.download), **kwargs)
    print(f"LFW ready at {out}")
    return 0
