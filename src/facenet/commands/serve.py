"""`facenet serve [--gallery G | postgresql://...] [--host 127.0.0.1] [--port 8000] [--photos DIR ...]
[--allow-origin URL ...] [--max-upload-mb N] [--max-pixels N] [--workers-pool N]`"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from facenet.commands.gallery_args import add_gallery_arg, gallery_location, is_url
from facenet.commands.keys import add_keys_arg, keys_location


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="the REST API and web page (FastAPI on uvicorn; docs at /docs)")
    add_gallery_arg(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; another needs an API key to exist)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--photos", metavar="DIR", action="append", default=[],
                   help="a folder cluster jobs may read (repeatable); no other server-side folder is readable")
    p.add_argument("--allow-origin", metavar="URL", action="append", default=[],
                   help="an origin allowed cross-origin requests (repeatable; default none)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest request body on the image routes (default 20)")
    p.add_argument("--max-job-upload-mb", type=float, default=200.0, help="largest cluster-job upload (default 200)")
    p.add_argument("--max-pixels", type=int, default=40_000_000, help="largest image, width x height (default 40,000,000)")
    p.add_argument("--max-images", type=int, default=500, help="images per cluster-job upload (default 500)")
    p.add_argument("--workers-pool", type=int, default=2, metavar="N", help="inference threads (default 2)")
    p.add_argument("--queue", type=int, default=64, help="inference calls that may wait (default 64; 429 beyond)")
    p.add_argument("--rate-limit", type=int, default=0, metavar="N", help="requests per minute per API key (default 0: none)")
    p.add_argument("--request-timeout", type=float, default=60.0, help="seconds an inference call may take (default 60)")
    p.add_argument("--thumbnails", metavar="DIR", help="face thumbnails folder (default: beside the gallery file, or in "
                                                       "the user data folder for a URL)")
    p.add_argument("--cluster-method", default="graph", help="how cluster jobs cluster (default graph)")
    p.add_argument("--cluster-threshold", type=float, default=None,
                   help="squared-L2 threshold of cluster jobs (default: the method's calibrated one)")
    add_keys_arg(p)
    p.add_argument("--detector", default="yunet", help="face detector: yunet (default) or mtcnn")
    p.add_argument("--embedder", default=None, help="embedding model (default: the gallery's own; sface for a new one)")
    p.add_argument("--flip", action="store_true", default=None, help="flip test-time augmentation (a new gallery)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> object:
    """The ServiceConfig of these flags (UsageError for a bad one); Settings read here only."""
    from facenet.errors import UsageError
    from facenet.service.config import MB, ServiceConfig, is_loopback
    from facenet.service.keys import KeyStore
    from facenet.settings import Settings

    gallery = gallery_location(args)
    keys = keys_location(args)
    if not is_loopback(args.host) and not KeyStore(keys).has_keys():
        raise UsageError(f"Refusing to listen on {args.host}, a non-loopback address, while no API key exists "
                         f"(create one: facenet keys create --scope read --keys {keys}).")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"The 'port' parameter of serve must be an int in [0, 65535]. Got {args.port} instead.")
    roots = []
    for d in args.photos:
        p = Path(d).expanduser()
        if not p.is_dir():
            raise UsageError(f"--photos {d}: not a folder")
        roots.append(p.resolve())
    settings = Settings.from_env()
    thumbs = Path(args.thumbnails) if args.thumbnails else None
    if thumbs is None and is_url(gallery):
        safe = gallery.split("@")[-1]  # never a password in a folder name
        thumbs = settings.data_dir / "thumbnails" / hashlib.sha256(safe.encode()).hexdigest()[:16]
    for name in ("max_upload_mb", "max_job_upload_mb"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0. Got {getattr(args, name)} instead.")
    try:
        return ServiceConfig(gallery=gallery, keys=keys, thumbnails=thumbs, work_dir=settings.cache_dir / "service-jobs",
                             photos=tuple(roots), allow_origins=tuple(args.allow_origin),
                             max_upload_bytes=int(args.max_upload_mb * MB), max_job_upload_bytes=int(args.max_job_upload_mb * MB),
                             max_pixels=args.max_pixels, max_images=args.max_images, request_timeout=args.request_timeout,
                             workers=args.workers_pool, queue=args.queue, rate_limit=args.rate_limit,
                             detector=args.detector, embedder=args.embedder,
                             flip=args.flip, cluster_method=args.cluster_method, cluster_threshold=args.cluster_threshold)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from facenet.service.app import create_app

    config = build_config(args)
    app = create_app(config)
    print(f"facenet: serving {config.gallery} on http://{args.host}:{args.port} (API docs at /docs)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_keep_alive=5,
                limit_concurrency=512, server_header=False)
    return 0
