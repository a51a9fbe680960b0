"""Export a gallery to one file and import it back, with the model identity carried along.

The file is a NumPy ``.npz`` of plain arrays (read with ``allow_pickle=False``: nothing in it is
ever unpickled): ``format`` and ``identity`` (JSON strings), ``subject`` (N,) names,
``embedding`` (N, D) float32, ``photo_sha256`` (N,), ``box`` (N, 4), ``source`` (N,), and since
format 2 ``models`` (M,) identity JSON strings with ``model`` (N,) each face's index into them (a
gallery during an upgrade holds faces of two harmonic models). Format 1 files (every face the
``identity``'s) are still read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from facenet.gallery.store import GalleryError, GalleryStore, ModelIdentity, NewFace

FORMAT = "facenet-gallery-export/2"
FORMATS = ("facenet-gallery-export/1", FORMAT)


def export_gallery(store: GalleryStore, path: str | Path) -> int:
    """Write every face of ``store`` to ``path`` (atomically). Returns the number of faces."""
    faces = store.faces()
    d = store.identity.embedding_size
    made_by = [f.model or store.identity for f in faces]
    models = list(dict.fromkeys([store.identity, *made_by]))
    arrays: dict[str, Any] = {
        "format": np.asarray(FORMAT),
        "identity": np.asarray(json.dumps(store.identity.to_dict())),
        "subject": np.asarray([f.subject for f in faces], dtype=str),
        "embedding": np.asarray([f.embedding for f in faces], np.float32).reshape(-1, d),
        "photo_sha256": np.asarray([f.photo_sha256 for f in faces], dtype=str),
        "box": np.asarray([f.box for f in faces], np.float32).reshape(-1, 4),
        "source": np.asarray([f.source for f in faces], dtype=str),
        "models": np.asarray([json.dumps(m.to_dict()) for m in models], dtype=str),
        "model": np.asarray([models.index(m) for m in made_by], np.int64),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)
    return len(faces)


def read_export(path: str | Path) -> tuple[ModelIdentity, dict[str, np.ndarray]]:
    """The identity and arrays of an export file (GalleryError when it is not one)."""
    p = Path(path)
    if not p.is_file():
        raise GalleryError(f"{p}: no such export file.")
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise GalleryError(f"{p} is not a facenet gallery export (not a readable .npz: {exc}).") from None
    if str(data.get("format", "")) not in FORMATS:
        raise GalleryError(f"{p} is not a facenet gallery export (format {str(data.get('format', 'missing'))!r}, "
                           f"expected {FORMAT!r}).")
    try:
        identity = ModelIdentity.from_dict(json.loads(str(data["identity"])))
        models = [ModelIdentity.from_dict(json.loads(str(m))) for m in data.get("models", [])] or [identity]
        per_face = data.get("model", np.zeros(len(data["subject"]), np.int64))
        data["made_by"] = np.array([models[int(i)] for i in per_face], dtype=object)  # ModelIdentity per face
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise GalleryError(f"{p}: the export's model identity is unreadable ({exc}).") from None
    return identity, data


def import_gallery(store: GalleryStore, path: str | Path) -> dict[str, int]:
    """Add every face of an export to ``store`` (one transaction per person; photos it already
    has are skipped), each with the model that made it. Refuses an export holding faces of a
    model that is neither the gallery's nor declared harmonic with it, naming both."""
    from facenet.gallery.harmonic import check_comparable

    _, data = read_export(path)
    for m in dict.fromkeys(data["made_by"].tolist()):
        check_comparable(store.identity, m, what=f"the faces in {Path(path).name}")
    added, people = 0, 0
    names = data["subject"].tolist()
    for name in dict.fromkeys(names):
        idx = [i for i, n in enumerate(names) if n == name]
        faces = [NewFace(embedding=data["embedding"][i], photo_sha256=str(data["photo_sha256"][i]),
                         box=tuple(float(v) for v in data["box"][i]), source=str(data["source"][i]),
                         model=data["made_by"][i]) for i in idx]
        added += len(store.add_faces(name, faces))
        people += 1
    return {"subjects": people, "faces_added": added, "faces_in_file": len(names)}
