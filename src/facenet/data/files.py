"""Image files of a folder of identity sub-folders (``root/<identity>/<image>``,
:func:`iter_images`), and of any folder tree (:func:`find_photos`).

Used by the training datasets (:mod:`facenet.data.folder`), ``facenet align``, clustering and the
gallery upgrade; it sits in :mod:`facenet.data` so that nothing below alignment has to import
:mod:`facenet.align`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

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


def find_photos(roots: Path | Sequence[Path], exclude: Path | None = None) -> tuple[list[Path], int]:
    """Image files (by extension, :data:`facenet.data.files.IMAGE_EXTENSIONS`) under each root,
    recursively, sorted; a root may also be one file. Hidden files and folders and anything under
    ``exclude`` (the output folder) are left out. Returns (paths, number of other files ignored).
    Raises DataError for a root that is neither a folder nor a file."""
    from facenet.errors import DataError

    items = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
    skip = Path(exclude).resolve() if exclude is not None else None
    found: list[Path] = []
    ignored = 0
    for root in map(Path, items):
        if root.is_file():
            found.append(root)
            continue
        if not root.is_dir():
            raise DataError(f"{root}: no such folder or file")
        for dirpath, dirnames, filenames in os.walk(root):
            d = Path(dirpath)
            dirnames[:] = sorted(n for n in dirnames if not n.startswith(".") and not _under(d / n, skip))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                if Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                    found.append(d / name)
                else:
                    ignored += 1
    return list(dict.fromkeys(found)), ignored


def _under(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False
