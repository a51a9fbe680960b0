"""Names given to clusters, kept so that they survive later runs.

A name is attached to the faces of the cluster it was given to (``OUT/names.json``: per entry
the name, the face keys ``"<photo sha256>:<face index>"`` and, once enrolled, the gallery). A new
run clusters from scratch and gives each name to the new cluster that shares the most faces with
it (:func:`carry_names`: greedy on overlap, one name per cluster and one cluster per name); the
entry then follows that cluster's faces, so a name grows with its person. A name whose faces are
all gone stays in the file, unused, until they come back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from facenet.cluster.output import write_file
from facenet.errors import DataError

NAMES_FILE = "names.json"
#: Folder names a cluster never takes (the run's own folders).
RESERVED = ("unclustered", "thumbs")
_MAX_FOLDER = 100


@dataclass
class NamedFaces:
    """A name and the faces it was given to. gallery: where its faces were enrolled (or None)."""

    name: str
    faces: set[str] = field(default_factory=set)
    gallery: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "faces": sorted(self.faces), "gallery": self.gallery}


def load_names(out: Path) -> list[NamedFaces]:
    """The names of ``out`` (empty when none were given). DataError for a damaged file."""
    path = Path(out) / NAMES_FILE
    if not path.is_file():
        return []
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return [NamedFaces(str(e["name"]), set(map(str, e.get("faces", []))), e.get("gallery")) for e in d["names"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: cannot read the cluster names ({exc}); fix or remove the file.") from None


def save_names(out: Path, names: Iterable[NamedFaces]) -> None:
    data = {"version": 1, "names": [n.to_dict() for n in names]}
    write_file(Path(out) / NAMES_FILE, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def match_overlap(old: list[set[str]], clusters: Mapping[int, set[str]]) -> dict[int, int]:
    """{cluster id: index into ``old``}: each face set of ``old`` matched to the cluster sharing
    the most faces with it. The pairs sharing faces are taken largest overlap first (ties: the
    earlier set, then the smaller cluster id), each set and each cluster used once. Linear in the
    faces of ``old``."""
    owner = {key: cid for cid, keys in clusters.items() for key in keys}
    pairs = []
    for i, faces in enumerate(old):
        common: dict[int, int] = {}
        for key in faces:
            cid = owner.get(key)
            if cid is not None:
                common[cid] = common.get(cid, 0) + 1
        pairs += [(-n, i, cid) for cid, n in common.items()]
    pairs.sort()
    used: set[int] = set()
    out: dict[int, int] = {}
    for _, i, cid in pairs:
        if i not in used and cid not in out:
            used.add(i)
            out[cid] = i
    return out


def carry_names(names: list[NamedFaces], clusters: Mapping[int, set[str]]) -> dict[int, NamedFaces]:
    """Which name each cluster gets: {cluster id: entry}, by :func:`match_overlap` of the names'
    faces. The chosen entries' faces are updated to their cluster's faces (in place)."""
    out = {cid: names[i] for cid, i in match_overlap([n.faces for n in names], clusters).items()}
    for cid, entry in out.items():
        entry.faces = set(clusters[cid])
    return out


def give_name(names: list[NamedFaces], faces: set[str], name: str, gallery: str | None = None) -> list[NamedFaces]:
    """The names after giving ``name`` to the cluster of ``faces``: those faces leave every other
    entry (an entry left with none is dropped), and one entry holds them under ``name``."""
    kept = []
    old_gallery = None
    for e in names:
        if e.faces & faces:
            if e.name == name:
                old_gallery = old_gallery or e.gallery
            e = NamedFaces(e.name, e.faces - faces, e.gallery)
            if not e.faces:
                continue
        kept.append(e)
    kept.append(NamedFaces(name, set(faces), gallery or old_gallery))
    return kept


def check_cluster_name(name: Any) -> str:
    """A cluster name, stripped: the gallery's rules (non-empty, at most 200 characters, no
    control characters). ValueError otherwise."""
    from facenet.gallery.store import check_subject_name

    return check_subject_name(name, "name", owner="name_cluster")


def folder_names(clusters: Iterable[tuple[int, str | None]]) -> dict[int, str]:
    """The folder of each cluster (id, name): ``cluster_0001`` unnamed, else the name made safe
    for a file name (``/``, ``\\``, control characters and ``:*?"<>|`` replaced by ``_``, no
    leading dot); a name taken twice (or a reserved one) gets `` (2)``, `` (3)``..."""
    taken = set(RESERVED)
    out: dict[int, str] = {}
    items = list(clusters)
    for cid, name in items:  # unnamed first: their folders are fixed
        if name is None:
            out[cid] = f"cluster_{cid:04d}"
            taken.add(out[cid].lower())
    for cid, name in items:
        if name is None:
            continue
        base = safe_folder(name)
        folder, n = base, 1
        while folder.lower() in taken or re.fullmatch(r"cluster_\d{4,}", folder.lower()):
            n += 1
            folder = f"{base} ({n})"
        taken.add(folder.lower())
        out[cid] = folder
    return out


def safe_folder(name: str) -> str:
    s = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]', "_", name).strip().lstrip(".").strip()
    return (s or "_")[:_MAX_FOLDER].rstrip() or "_"
