"""A 112x112 JPEG crop per enrolled face, so the people page can show faces: one file per face id
in a folder of its own per gallery (face ids are never reused, so a file always belongs to the
face it is named after)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable

import numpy as np

THUMB_SIZE = 112


def jpeg_thumbnail(crop: np.ndarray, size: int = THUMB_SIZE, quality: int = 90) -> bytes:
    """crop: (H, W, 3) uint8 RGB (an aligned face) -> JPEG bytes of a size x size image."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(crop, dtype=np.uint8), "RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


class ThumbnailStore:
    """Thumbnails in ``folder`` (created on first write): ``<face id>.jpg``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, face_id: int) -> Path:
        return self.folder / f"{int(face_id)}.jpg"

    def put(self, face_id: int, crop: np.ndarray) -> None:
        from facenet.fileio import write_atomic

        self.folder.mkdir(parents=True, exist_ok=True)
        data = jpeg_thumbnail(crop)
        write_atomic(self._path(face_id), data)

    def put_encoded(self, face_id: int, data: bytes) -> None:
        """A thumbnail from an encoded image (e.g. a cluster job's face crop), made 112x112 JPEG."""
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            self.put(face_id, np.asarray(img.convert("RGB")))

    def get(self, face_id: int) -> bytes | None:
        try:
            return self._path(face_id).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    def has(self, face_id: int) -> bool:
        return self._path(face_id).is_file()

    def remove(self, face_ids: Iterable[int]) -> None:
        for fid in face_ids:
            self._path(fid).unlink(missing_ok=True)
