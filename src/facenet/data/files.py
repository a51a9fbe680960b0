"""Image files of a folder of identity sub-folders (``root/<identity>/<image>``).

Used by the training datasets (:mod:`facenet.data.folder`) and by ``facenet align``; it sits in
:mod:`facenet.data` so that nothing below alignment has to import :mod:`facenet.align`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

#: File name endings (lower case) taken as images; any other file is ignored.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp")


def iter_images(root: str | Path) -> Iterator[Path]:
    """Image files under ``root/<identity>/`` (identities sorted, then files sorted by name;
    hidden folders and files and non-image extensions ignored; files directly in ``root`` and
    deeper sub-folders are not listed).

    root: an existing folder (``iterdir`` raises OSError otherwise; callers check first).
    """
    root = Path(root)
    for ident in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(ident.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."):
                yield f
