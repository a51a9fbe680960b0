"""Download, verify and safely extract LFW (deep-funneled) and its pair protocol files.

``download_lfw(DIR)`` leaves ``DIR/lfw/<Name>/<Name>_<NNNN>.jpg`` plus ``DIR/lfw/pairs.txt``
(and the View 1 files), the layout :func:`facenet.data.lfw.lfw_root` expects, so afterwards
``FACENET_DATA=DIR`` points facenet at it. It is resumable and idempotent:

* the archive is streamed to ``DIR/<archive>.part`` and resumed with an HTTP ``Range`` request
  when a previous run was interrupted (restarted from zero if the server ignores ranges);
* the finished archive is checked against its MD5 / SHA-256; a mismatch deletes it and raises
  :class:`DataError` (nothing partial is left behind);
* it is extracted into a temporary folder that is renamed to ``DIR/lfw`` only when complete,
  with a marker file recording the verified digests; a later call finding that marker skips the
  archive entirely; pair files already present with the right checksum are not fetched again;
* tar members with absolute paths, ``..`` components, links or special files are refused.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional, Sequence, Union
from urllib.parse import urlparse

from facenet.errors import DataError

PathLike = Union[str, os.PathLike]

_ALGORITHMS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_CHUNK = 1 << 20
#: Marker written inside the extracted folder once the archive has been verified and extracted.
MARKER_NAME = ".facenet-download.json"


@dataclass(frozen=True)
class Checksum:
    """An expected file digest: ``algorithm`` ("md5", "sha1", "sha256" or "sha512") and its
    lowercase ``hexdigest``."""

    algorithm: str
    hexdigest: str

    def __post_init__(self) -> None:
        alg = self.algorithm.lower()
        digest = self.hexdigest.strip().lower()
        if alg not in _ALGORITHMS:
            raise ValueError(f"Unsupported checksum algorithm {self.algorithm!r}; use one of {sorted(_ALGORITHMS)}.")
        if len(digest) != _ALGORITHMS[alg] or not re.fullmatch(r"[0-9a-f]+", digest):
            raise ValueError(f"{digest!r} is not a {alg} hex digest ({_ALGORITHMS[alg]} hex characters).")
        object.__setattr__(self, "algorithm", alg)
        object.__setattr__(self, "hexdigest", digest)

    @classmethod
    def parse(cls, spec: Union[str, "Checksum"]) -> "Checksum":
        """From ``"md5:<hex>"`` / ``"sha256:<hex>"`` or a bare hex digest (32 characters: md5,
        64: sha256)."""
        if isinstance(spec, Checksum):
            return spec
        if ":" in spec:
            alg, digest = spec.split(":", 1)
            return cls(alg, digest)
        by_len = {32: "md5", 64: "sha256"}.get(len(spec.strip()))
        if by_len is None:
            raise ValueError(f"Cannot tell the algorithm of checksum {spec!r}; write it as 'sha256:<hex>' or 'md5:<hex>'.")
        return cls(by_len, spec)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"


LFW_BASE_URL = "http://vis-www.cs.umass.edu/lfw/"
OFFICIAL_URL = LFW_BASE_URL + "lfw-deepfunneled.tgz"
#: MD5 of the official lfw-deepfunneled.tgz (the digest torchvision and tensorflow-datasets pin).
OFFICIAL_CHECKSUM = Checksum("md5", "68331da3eb755a505a502b5aacb3c201")
OFFICIAL_PAIRS_URL = LFW_BASE_URL + "pairs.txt"
OFFICIAL_PAIRS_CHECKSUM = Checksum("md5", "9f1ba174e4e1c508ff7cdf10ac338a7d")
#: View 1 (development) pair files with their official MD5s.
OFFICIAL_DEV_PAIRS: tuple[tuple[str, Checksum], ...] = (
    (LFW_BASE_URL + "pairsDevTrain.txt", Checksum("md5", "4f27cbf15b2da4a85c1907eb4181ad21")),
    (LFW_BASE_URL + "pairsDevTest.txt", Checksum("md5", "5132f7440eb68cf58910c8a45a2ac10b")),
)

ChecksumLike = Optional[Union[Checksum, str]]


def file_digests(path: PathLike, algorithms: Sequence[str] = ("md5", "sha256")) -> dict[str, str]:
    """Hex digests of a file for each algorithm, computed in one streamed pass."""
    hashers = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


def _verify(path: Path, expected: Optional[Checksum], what: str) -> dict[str, str]:
    """Digests of ``path``; raises DataError (after deleting the file) when they do not match."""
    algs = ["md5", "sha256"] + ([expected.algorithm] if expected and expected.algorithm not in ("md5", "sha256") else [])
    digests = file_digests(path, algs)
    if expected is not None and digests[expected.algorithm] != expected.hexdigest:
        path.unlink(missing_ok=True)
        raise DataError(
            f"Checksum mismatch for {what}: expected {expected}, got {expected.algorithm}:"
            f"{digests[expected.algorithm]}. The file was deleted; check the URL and try again."
        )
    return digests


def _download(url: str, part: Path, progress: bool, timeout: float) -> None:
    """Stream ``url`` into ``part``, resuming from its current size when the server allows."""
    from tqdm import tqdm

    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "facenet-downloader/1"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # nothing left to fetch: the .part is already complete
            return
        raise DataError(f"Download of {url} failed: HTTP {exc.code} {exc.reason}.") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise DataError(f"Download of {url} failed: {getattr(exc, 'reason', exc)}.") from None
    with response:
        if start and response.getcode() != 206:
            start = 0  # the server ignored the range request: start over
        length = response.headers.get("Content-Length")
        total = int(length) + start if length and length.isdigit() else None
        try:
            with open(part, "ab" if start else "wb") as fh, tqdm(
                total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                desc=part.name.removesuffix(".part"), disable=not progress, leave=False,
            ) as bar:
                while chunk := response.read(_CHUNK):
                    fh.write(chunk)
                    bar.update(len(chunk))
        except (http.client.HTTPException, OSError) as exc:
            raise DataError(f"Download of {url} was interrupted ({exc}); run again to resume.") from None
    if total is not None and part.stat().st_size != total:
        raise DataError(
            f"Download of {url} is incomplete ({part.stat().st_size} of {total} bytes); run again to resume."
        )


def _fetch(url: str, target: Path, expected: Optional[Checksum], progress: bool, timeout: float) -> dict[str, str]:
    """Make ``target`` a verified copy of ``url`` (skipped if it already is). Returns its digests."""
    if target.exists():
        try:
            return _verify(target, expected, str(target))
        except DataError:
            pass  # stale or corrupt: it was deleted, fetch it again
    part = target.with_name(target.name + ".part")
    _download(url, part, progress, timeout)
    digests = _verify(part, expected, f"{url} (saved as {part})")
    if expected is None:
        print(
            f"{url}: no pinned checksum; sha256:{digests['sha256']} md5:{digests['md5']} "
            "(pass one of these as the checksum to pin it).",
            file=sys.stderr,
        )
    os.replace(part, target)
    return digests


def _check_member(member: tarfile.TarInfo, dest: Path) -> None:
    name = member.name
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise DataError(f"Refusing to extract archive member {name!r}: absolute path or '..' component.")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"Refusing to extract archive member {name!r}: links and special files are not allowed.")
    target = (dest / name).resolve()
    if target != dest and dest not in target.parents:
        raise DataError(f"Refusing to extract archive member {name!r}: it would land outside {dest}.")


def safe_extract(archive: PathLike, dest: PathLike) -> None:
    """Extract a tar archive (any compression) into ``dest`` after checking every member: absolute
    paths, ``..`` components, links and special files raise :class:`DataError` before anything
    is written."""
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, dest)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                tar.extractall(dest, members=members)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"Cannot extract {archive}: {exc}") from None


def _archive_done(root: Path, expected: Optional[Checksum]) -> bool:
    marker = root / MARKER_NAME
    if not marker.is_file():
        if root.exists():
            raise DataError(
                f"{root} already exists but was not made by a verified download. "
                "Remove it or download into another folder."
            )
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))["digests"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"Unreadable download marker {marker} ({exc}); remove {root} and download again.") from None
    if expected is None or recorded.get(expected.algorithm) == expected.hexdigest:
        return True
    raise DataError(
        f"{root} holds a download with digests {recorded}, not the requested {expected}. "
        "Remove it or download into another folder."
    )


def download_lfw(
    dest: PathLike,
    url: str = OFFICIAL_URL,
    checksum: ChecksumLike = OFFICIAL_CHECKSUM,
    pairs_url: Optional[str] = OFFICIAL_PAIRS_URL,
    pairs_checksum: ChecksumLike = OFFICIAL_PAIRS_CHECKSUM,
    extra_pairs: Sequence[tuple[str, ChecksumLike]] = OFFICIAL_DEV_PAIRS,
    progress: bool = True,
    keep_archive: bool = False,
    timeout: float = 60.0,
    sha256: Optional[str] = None,
) -> Path:
    """Download and extract LFW into ``dest/lfw`` and fetch its pair files; return ``dest/lfw``.

    Args:
        dest: folder to fill (created); afterwards use it as ``FACENET_DATA``.
        url: the image archive (a tar, any compression, holding one top folder, e.g.
            ``lfw-deepfunneled/``, or the ``<Name>/`` folders directly).
        checksum: expected digest of the archive (:class:`Checksum`, ``"sha256:<hex>"``,
            ``"md5:<hex>"`` or a bare hex digest). ``None``: nothing pinned; the computed
            digests are printed so they can be pinned.
        pairs_url: the View 2 ``pairs.txt`` (``None``: skip), saved as ``dest/lfw/pairs.txt``.
        pairs_checksum: its expected digest (official: md5 9f1ba174e4e1c508ff7cdf10ac338a7d).
        extra_pairs: further ``(url, checksum)`` files saved in ``dest/lfw`` under their URL's
            file name; by default the official View 1 files.
        progress: show tqdm progress bars.
        keep_archive: keep the downloaded archive next to ``dest/lfw`` after extraction.
        timeout: socket timeout in seconds.
        sha256: shorthand for ``checksum=Checksum("sha256", sha256)``; overrides ``checksum``.

    Raises:
        DataError: network failure (a partial archive is kept so the next call resumes), checksum
            mismatch (the file is deleted), unsafe archive member, or a ``dest/lfw`` that this
            function did not create.
    """
    dest = Path(dest).expanduser().resolve()
    dest.mkdir(parents=True, exist_ok=True)
    root = dest / "lfw"
    if sha256 is not None:
        checksum = Checksum("sha256", sha256)
    expected = Checksum.parse(checksum) if checksum is not None else None

    if not _archive_done(root, expected):
        archive = dest / (Path(urlparse(url).path).name or "lfw-archive.tgz")
        digests = _fetch(url, archive, expected, progress, timeout)
        staging = dest / ".lfw-extract.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            safe_extract(archive, staging)
        except DataError:
            shutil.rmtree(staging, ignore_errors=True)
            archive.unlink(missing_ok=True)
            raise
        entries = list(staging.iterdir())
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        info = {"url": url, "digests": digests, "verified": str(expected) if expected else None}
        (top / MARKER_NAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        os.replace(top, root)
        shutil.rmtree(staging, ignore_errors=True)
        if not keep_archive:
            archive.unlink(missing_ok=True)

    files = ([(pairs_url, pairs_checksum)] if pairs_url else []) + list(extra_pairs)
    for file_url, file_sum in files:
        name = Path(urlparse(file_url).path).name
        if not name or name in (".", ".."):
            raise DataError(f"Cannot tell a file name from URL {file_url!r}.")
        target = root / ("pairs.txt" if file_url == pairs_url else name)
        _fetch(file_url, target, Checksum.parse(file_sum) if file_sum is not None else None, progress, timeout)
    return root
