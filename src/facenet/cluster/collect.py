"""Find the photos of a folder and every face in each, embedded once (through the cache).

:func:`collect_faces` takes the image files :func:`facenet.data.files.find_photos` lists, hashes
each photo, takes its faces from the :class:`~facenet.cluster.cache.EmbeddingCache` when this model and detector saw those bytes before,
and otherwise detects every face (the pipeline's :class:`~facenet.align.cropper.FaceCropper`, with
its retry pass), crops and embeds them. A photo without a face is reported, never embedded from
the centre-crop fallback; an unreadable one is reported and left out.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from facenet.cluster.cache import EmbeddingCache, PhotoFaces
from facenet.errors import FacenetError, InvalidImageError, ItemError

#: A photo with at least this many faces gets a note (a group photo: its faces never share a cluster).
MANY_FACES = 10
#: Side of the square face thumbnails of the contact sheet, in pixels.
THUMB_SIZE = 112
#: Photos embedded between two cache commits.
COMMIT_EVERY = 32

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PhotoEntry:
    """One readable photo: where it is, its SHA-256, its faces (K may be 0), and other paths
    holding the same bytes (clustered once, under ``path``)."""

    path: Path
    sha256: str
    faces: PhotoFaces
    duplicates: tuple[Path, ...] = ()


@dataclass
class Collected:
    """What :func:`collect_faces` found: the photos in order, the unreadable ones (``errors``),
    notes on usable photos (``warnings``: no face, many faces, a missing thumbnail), how many
    photos were embedded now (not from the cache) and the seconds it took."""

    photos: list[PhotoEntry] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    n_embedded_now: int = 0
    seconds: float = 0.0


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def thumb_name(sha256: str, face_index: int) -> str:
    """A face's thumbnail under ``thumbs/``, ``<2 hex>/<20 hex>_<face index>.jpg`` (content-addressed:
    reused across runs; 256 sub-folders so that no folder holds a whole library)."""
    return f"{sha256[:2]}/{sha256[:20]}_{face_index}.jpg"


def collect_faces(paths: Sequence[Path], pipeline: Any, cache: EmbeddingCache, thumbs: Path | None = None,
                  progress: bool | Progress = False) -> Collected:
    """Every face of every photo, from the cache or detected and embedded now.

    paths: image files. pipeline: a :class:`facenet.pipeline.FacePipeline` (its cropper finds and
    crops the faces, its embedder embeds them). cache: keyed for this pipeline. thumbs: folder for
    the face thumbnails (made for the photos that lack them; None: none made). progress: True for
    a tqdm bar on stderr, a callable ``progress(done, total)``, or False.
    """
    t0 = time.perf_counter()
    out = Collected()
    by_sha: dict[str, int] = {}
    stats = _stats(paths)
    known = cache.known_files({p: st for p, st in stats.items() if st is not None})
    fresh: dict[str, PhotoFaces] = cache.get_many(known.values())  # cached, then those embedded in this run
    pending: list[tuple[str, PhotoFaces]] = []
    files: list[tuple[str, int, int, str]] = []
    bar = _Bar(progress, len(paths), "embed")
    try:
        for i, path in enumerate(paths):
            try:
                sha, faces, embedded, stat = _one_photo(path, stats, known, pipeline,
                                                        lambda h: fresh[h] if h in fresh else cache.get(h), thumbs)
            except FacenetError as exc:
                out.errors.append(ItemError(i, str(path), getattr(exc, "reason", None) or str(exc)))
                continue
            finally:
                bar.update()
            if embedded:
                fresh[sha] = faces
                pending.append((sha, faces))
                out.n_embedded_now += 1
            if stat is not None:
                files.append(stat)
            if sha in by_sha:  # the same bytes under another name: clustered once
                e = out.photos[by_sha[sha]]
                out.photos[by_sha[sha]] = PhotoEntry(e.path, e.sha256, e.faces, (*e.duplicates, path))
                continue
            by_sha[sha] = len(out.photos)
            out.photos.append(PhotoEntry(path, sha, faces))
            if len(faces) == 0:
                out.warnings.append((str(path), "no face found; not clustered"))
            elif len(faces) >= MANY_FACES:
                out.warnings.append((str(path), f"{len(faces)} faces (a group photo); they are clustered, "
                                                "never two of them together"))
            if len(pending) >= COMMIT_EVERY or len(files) >= 50 * COMMIT_EVERY:
                cache.put_many(pending, files)
                pending, files = [], []
    finally:  # also on an interrupt: what was embedded is kept for the next run
        cache.put_many(pending, files)
        bar.close()
    out.seconds = time.perf_counter() - t0
    return out


def _stats(paths: Sequence[Path]) -> dict[str, tuple[int, int] | None]:
    """{absolute path: (size, mtime_ns)} of each file (None where it cannot be stat'ed)."""
    out: dict[str, tuple[int, int] | None] = {}
    for p in paths:
        try:
            st = os.stat(p)
            out[os.path.abspath(p)] = (int(st.st_size), int(st.st_mtime_ns))
        except OSError:
            out[os.path.abspath(p)] = None
    return out


def _one_photo(path: Path, stats: dict[str, tuple[int, int] | None], known: dict[str, str], pipeline: Any,
               lookup: Callable[[str], PhotoFaces | None],
               thumbs: Path | None) -> tuple[str, PhotoFaces, bool, tuple[str, int, int, str] | None]:
    """(sha256, faces, embedded now?, a new files row or None) for one photo; the file is read
    only when its SHA-256 is not known from its path, size and mtime, or something is missing."""
    where = os.path.abspath(path)
    st = stats.get(where)
    if st is None:
        _read(path)  # raises the reason it cannot be read
    sha = known.get(where)
    faces = lookup(sha) if sha is not None else None
    if faces is not None and (thumbs is None or _has_thumbnails(thumbs, sha, len(faces))):
        return sha, faces, False, None
    data = _read(path)
    new_sha = file_sha256(data)
    row = None if new_sha == sha or st is None else (where, st[0], st[1], new_sha)
    if new_sha != sha:
        faces = lookup(new_sha)
    img = None
    embedded = faces is None
    if faces is None:
        img = _decode(pipeline, data, path)
        faces = _embed_photo(pipeline, img, int(pipeline.embedder.config.embedding_size))
    if thumbs is not None and len(faces):
        _thumbnails(pipeline, path, data, img, new_sha, faces, thumbs)
    return new_sha, faces, embedded, row


def _has_thumbnails(thumbs: Path, sha: str, k: int) -> bool:
    return all((thumbs / thumb_name(sha, i)).is_file() for i in range(k))


def _read(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise InvalidImageError(str(path), "no such file") from None
    except IsADirectoryError:
        raise InvalidImageError(str(path), "is a directory, expected an image file") from None
    except OSError as exc:
        raise InvalidImageError(str(path), f"cannot read file ({exc.strerror or exc})") from None
    if not data:
        raise InvalidImageError(str(path), "file is empty (0 bytes)")
    return data


def _decode(pipeline: Any, data: bytes, path: Path) -> np.ndarray:
    try:
        return pipeline.load(data)
    except InvalidImageError as exc:
        raise InvalidImageError(str(path), exc.reason) from None


def _embed_photo(pipeline: Any, img: np.ndarray, dim: int) -> PhotoFaces:
    """Every face of one loaded photo: detected (with the retry pass), cropped, embedded."""
    cropper = pipeline.cropper
    det = cropper.detect_rgb(img)
    h, w = img.shape[:2]
    if len(det) == 0:
        return PhotoFaces.empty(w, h, dim)
    emb = np.asarray(pipeline.embed_faces(cropper.crop(img, det)), np.float32)
    return PhotoFaces(w, h, det.boxes, det.scores, det.landmarks, emb)


def _thumbnails(pipeline: Any, path: Path, data: bytes, img: np.ndarray | None, sha: str, faces: PhotoFaces,
                thumbs: Path) -> None:
    missing = [k for k in range(len(faces)) if not (thumbs / thumb_name(sha, k)).is_file()]
    if not missing:
        return
    if img is None:
        img = _decode(pipeline, data, path)
    for k in missing:
        target = thumbs / thumb_name(sha, k)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_thumbnail(img, faces.boxes[k], target)


def write_thumbnail(img: np.ndarray, box: np.ndarray, target: Path, size: int = THUMB_SIZE) -> Path:
    """A square JPEG of the face in ``box`` (grown by a quarter on each side; grey where that
    reaches past the photo's edge, so a face is never stretched) at ``size`` x ``size``,
    written atomically to ``target``. img: (H, W, 3) uint8 RGB."""
    from PIL import Image

    from facenet.cluster.output import write_file

    h, w = img.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(int(round(max(x2 - x1, y2 - y1, 2.0) * 1.5)), 2)
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    square = np.full((side, side, 3), 200, np.uint8)
    l, t, r, b = max(left, 0), max(top, 0), min(left + side, w), min(top + side, h)
    if r > l and b > t:
        square[t - top:b - top, l - left:r - left] = img[t:b, l:r]
    buf = io.BytesIO()
    Image.fromarray(square).resize((size, size), Image.BILINEAR).save(buf, format="JPEG", quality=85)
    return write_file(target, buf.getvalue())


class _Bar:
    """Progress as a tqdm bar (``progress=True``), a ``callable(done, total)``, or nothing."""

    def __init__(self, progress: bool | Progress, total: int, desc: str) -> None:
        self.total, self.done = total, 0
        self._fn = progress if callable(progress) else None
        self._tqdm = None
        if progress is True:
            from tqdm import tqdm

            self._tqdm = tqdm(total=total, desc=desc, unit="photo", leave=False)
        if self._fn is not None:
            self._fn(0, total)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._tqdm is not None:
            self._tqdm.update(n)
        if self._fn is not None:
            self._fn(self.done, self.total)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()


def iter_faces(photos: Iterable[PhotoEntry]) -> Iterable[tuple[int, PhotoEntry, int]]:
    """(photo position, photo, face index) for every face, in order."""
    for p, entry in enumerate(photos):
        for k in range(len(entry.faces)):
            yield p, entry, k
