"""`facenet data lfw --download DIR`"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="fetch a benchmark data set (checksum-verified)")
    p.add_argument("dataset", choices=["lfw"])
    p.add_argument("--download", required=True, metavar="DIR", help="destination folder (LFW lands in DIR/lfw)")
    p.add_argument("--url", help="archive URL (default: the official LFW location)")
    p.add_argument("--checksum", help="expected archive digest, 'md5:HEX' or 'sha256:HEX' (default: the pinned one)")
    p.add_argument("--pairs-url", help="pairs.txt URL (default: the official one)")
    p.add_argument("--pairs-checksum", help="expected pairs.txt digest (default: the official md5)")
    p.add_argument("--no-dev-pairs", action="store_true", help="skip the View 1 files (pairsDevTrain/Test.txt)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.data import download

    kwargs: dict = {"progress": not args.no_progress}
    if args.url:
        kwargs["url"] = args.url
    if args.checksum:
        kwargs["checksum"] = args.checksum
    if args.pairs_url:
        kwargs["pairs_url"] = args.pairs_url
    if args.pairs_checksum:
        kwargs["pairs_checksum"] = args.pairs_checksum
    if args.no_dev_pairs:
        kwargs["extra_pairs"] = ()
    out = download.download_lfw(Path(args.download), **kwargs)
    print(f"LFW ready at {out}")
    return 0
