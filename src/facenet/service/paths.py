"""Server-side folders a request may name: only under the roots given at start-up
(``--photos DIR``), by a relative path with no ``..``, and never reached through a symlink
that leads out of the roots (the folder itself, and every photo listed in it)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Sequence

from facenet.service.errors import ApiError


def _inside(path: Path, roots: Sequence[Path]) -> Path | None:
    """The root that ``path`` (resolved) lies in, or None."""
    for r in roots:
        try:
            path.relative_to(r)
            return r
        except ValueError:
            continue
    return None


def resolve_folder(roots: Sequence[Path], rel: object) -> tuple[Path, Path]:
    """(the real folder, the root it is under) for ``rel``, a relative path under one of
    ``roots`` (tried in order). ApiError 403 when no roots were given, 400 for an absolute path,
    ``..``, a backslash or a NUL, 404 when no root holds such a folder inside itself."""
    if not roots:
        raise ApiError(403, "no_photo_roots", "this server reads no server-side folders (start it with --photos DIR)")
    if not isinstance(rel, str):
        raise ApiError(422, "validation_error", "folder: must be a string (a path relative to a --photos root)")
    text = rel.strip()
    parts = PurePosixPath(text).parts
    if "\x00" in text or "\\" in text or text.startswith("/") or ".." in parts or (len(text) > 1 and text[1] == ":"):
        raise ApiError(400, "path_not_allowed", "folder: give a path relative to a --photos root, without '..'")
    real_roots = [Path(r).resolve() for r in roots]
    for root in real_roots:
        candidate = (root / text).resolve() if text not in ("", ".") else root
        if _inside(candidate, [root]) is not None and candidate.is_dir():
            return candidate, root
    raise ApiError(404, "folder_not_found", f"no folder {text!r} under the photo roots")


def list_photos(folder: Path, roots: Sequence[Path], extensions: Sequence[str]) -> tuple[list[Path], int]:
    """The image files under ``folder`` (recursively, sorted; hidden ones left out), without
    following symlinked folders and leaving out symlinked files whose target is outside
    ``roots``. Returns (real paths, files left out for leading outside)."""
    real_roots = [Path(r).resolve() for r in roots]
    found, refused = [], 0
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() not in extensions:
                continue
            p = Path(dirpath) / name
            real = p.resolve()
            if _inside(real, real_roots) is None or not real.is_file():
                refused += 1
                continue
            found.append(real)
    return list(dict.fromkeys(found)), refused
