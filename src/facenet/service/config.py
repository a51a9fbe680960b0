"""What a service is started with: one explicit :class:`ServiceConfig` (no environment reading
here; ``facenet serve`` builds it from its flags and :class:`facenet.settings.Settings`)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from facenet.validation import check_scalar

MB = 1 << 20


@dataclass(frozen=True)
class ServiceConfig:
    """gallery: a SQLite gallery file or a ``postgresql://`` URL. keys: the API-key file.
    thumbnails: folder of the 112x112 JPEG crop kept per enrolled face (default: ``<gallery>.thumbs``
        beside a gallery file; required for a URL). work_dir: cluster-job files (uploads, outputs).
    photos: the only server-side folders a cluster job may read. allow_origins: origins allowed
        cross-origin requests (none: every cross-origin request is refused).
    max_upload_bytes: largest request body on the image routes; max_job_upload_bytes: on a cluster
        job upload. max_pixels: largest decoded image (width x height). max_images: images per
        cluster-job upload. request_timeout: seconds an inference call may take (504 after);
        body_timeout: seconds between two chunks of a request body (408 after).
    workers: inference threads (each with its own pipeline); queue: calls that may wait for one
        (429 beyond). max_jobs: cluster jobs queued or running at once (429 beyond).
    rate_limit: requests per minute per API key (0: no limit; 429 ``rate_limited`` beyond).
    detector / embedder / flip: the pipeline (embedder None: the gallery's own model, else sface).
    cluster_method / cluster_threshold: how cluster jobs cluster (threshold None: the method's
        calibrated one for the model).
    """

    gallery: str
    keys: Path
    thumbnails: Path | None = None
    work_dir: Path | None = None
    photos: tuple[Path, ...] = ()
    allow_origins: tuple[str, ...] = ()
    max_upload_bytes: int = 20 * MB
    max_job_upload_bytes: int = 200 * MB
    max_pixels: int = 40_000_000
    max_images: int = 500
    request_timeout: float = 60.0
    body_timeout: float = 30.0
    workers: int = 2
    queue: int = 64
    max_jobs: int = 4
    rate_limit: int = 0
    detector: str = "yunet"
    embedder: str | None = None
    flip: bool | None = None
    cluster_method: str = "graph"
    cluster_threshold: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_job_upload_bytes", "max_pixels", "max_images", "workers", "max_jobs"):
            check_scalar(getattr(self, name), name, int, min_val=1, owner="ServiceConfig")
        check_scalar(self.queue, "queue", int, min_val=0, owner="ServiceConfig")
        check_scalar(self.rate_limit, "rate_limit", int, min_val=0, owner="ServiceConfig")
        for name in ("request_timeout", "body_timeout"):
            check_scalar(getattr(self, name), name, float, min_val=0.0, include="right", owner="ServiceConfig")
        object.__setattr__(self, "photos", tuple(Path(p) for p in self.photos))
        object.__setattr__(self, "allow_origins", tuple(str(o).rstrip("/") for o in self.allow_origins))
        object.__setattr__(self, "keys", Path(self.keys))

    def thumbnails_dir(self) -> Path:
        if self.thumbnails is not None:
            return Path(self.thumbnails)
        if self.gallery.startswith(("postgresql://", "postgres://")):
            raise ValueError("The 'thumbnails' parameter of ServiceConfig is required for a postgresql:// gallery.")
        return Path(self.gallery + ".thumbs")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or name (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
