"""What a clustering run produced: :class:`ClusterRun` (clusters of :class:`ClusterFace`), as
written to ``OUT/assignments.json`` and printed by ``facenet cluster --json``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from facenet.errors import DataError, ItemError, UsageError

#: Version of the assignments.json layout.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ClusterFace:
    """One face of a clustered photo.

    photo: the photo's path (as found under the root). box: x1, y1, x2, y2 in its pixels.
    face_index: the face's position among the photo's detections (0 = highest score).
    distance_to_centre: squared L2 from the face to its cluster's centre (the renormalised mean
    of its members' embeddings); None for an unclustered face. thumbnail: the face thumbnail's
    path relative to OUT (None when none could be made). sha256: the photo's SHA-256.
    key: ``"<sha256>:<face_index>"``, the face's identity across runs. score: detector score.
    link: the photo's link (or copy) in the cluster's folder, relative to OUT.
    """

    photo: str
    box: tuple[float, float, float, float]
    face_index: int
    distance_to_centre: float | None
    thumbnail: str | None
    sha256: str = ""
    key: str = ""
    score: float = 0.0
    link: str | None = None

    def to_dict(self, cluster: int | None) -> dict[str, Any]:
        d = self.distance_to_centre
        return {"key": self.key, "photo": self.photo, "sha256": self.sha256, "face_index": self.face_index,
                "box": [round(float(v), 1) for v in self.box], "score": round(float(self.score), 4),
                "cluster": cluster, "distance_to_centre": None if d is None else round(float(d), 5),
                "thumbnail": self.thumbnail, "link": self.link}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ClusterFace":
        box = tuple(float(v) for v in d["box"])
        dist = d.get("distance_to_centre")
        return cls(str(d["photo"]), box, int(d["face_index"]), None if dist is None else float(dist),  # type: ignore[arg-type]
                   d.get("thumbnail"), str(d.get("sha256", "")), str(d.get("key", "")), float(d.get("score", 0.0)),
                   d.get("link"))


@dataclass(frozen=True)
class Cluster:
    """One cluster: its id (1, 2, ...; the folder ``cluster_0001`` until named), its name (None
    until named), its folder relative to OUT, and its faces (each from a different photo)."""

    id: int
    name: str | None
    faces: list[ClusterFace]
    folder: str = ""

    @property
    def size(self) -> int:
        return len(self.faces)

    @property
    def keys(self) -> set[str]:
        return {f.key for f in self.faces}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "folder": self.folder, "size": self.size,
                "faces": [f.to_dict(self.id) for f in self.faces]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Cluster":
        return cls(int(d["id"]), d.get("name"), [ClusterFace.from_dict(f) for f in d["faces"]], str(d.get("folder", "")))


@dataclass
class ClusterRun:
    """A clustering of a folder's faces.

    clusters: largest first. unclustered: faces in no cluster (a cluster under --min-size, or
    noise). failed: the photos that could not be read (``errors`` gives them as (photo,
    message)). warnings: (photo, message) notes on usable photos (no face, many faces).
    no_face: the photos in which no face was found. n_photos: readable photos (duplicates
    counted once); n_faces: faces found; n_embedded_now: photos embedded in this run (the others
    came from the cache). settings: method, threshold (squared L2) and its source, k, min_size,
    link, update, detector, cache, roots. model: the model identity (dict). check_first: the
    clusters whose faces divide most clearly into two groups, ``[{"cluster": id, "gap": g}]``
    largest gap first (:func:`facenet.cluster.review.publish` fills it in).
    """

    clusters: list[Cluster]
    unclustered: list[ClusterFace]
    failed: list[ItemError] = field(default_factory=list)
    n_photos: int = 0
    n_faces: int = 0
    n_embedded_now: int = 0
    seconds_embed: float = 0.0
    seconds_cluster: float = 0.0
    warnings: list[tuple[str, str]] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    n_ignored: int = 0
    out: str = ""
    check_first: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> list[tuple[str, str]]:
        """(photo, message) for every photo that could not be read."""
        return [(e.source, e.reason) for e in self.failed]

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    @property
    def threshold(self) -> float | None:
        return self.settings.get("threshold")

    def cluster(self, ref: int | str) -> Cluster:
        """A cluster by id (``3``, ``"3"``), folder (``"cluster_0003"``) or name. Raises
        :class:`UnknownClusterError` naming what exists."""
        text = str(ref).strip()
        for match in (lambda c: text.isdigit() and int(text) == c.id, lambda c: text == c.folder,
                      lambda c: text == c.name):  # an id first, then a folder, then a name
            for c in self.clusters:
                if match(c):
                    return c
        ids = ", ".join(str(c.id) for c in self.clusters[:10]) + (" ..." if len(self.clusters) > 10 else "")
        raise UnknownClusterError(f"No cluster {text if text.isdigit() else repr(text)} in {self.out or 'this run'} (ids {ids or 'none'}; "
                                  "a folder name or a given name works too).")

    def all_faces(self) -> list[tuple[int | None, ClusterFace]]:
        """(cluster id or None, face) for every face of the run."""
        return [(c.id, f) for c in self.clusters for f in c.faces] + [(None, f) for f in self.unclustered]

    def with_cluster(self, cluster: Cluster) -> "ClusterRun":
        """A copy with ``cluster`` (matched by id) replaced."""
        return replace(self, clusters=[cluster if c.id == cluster.id else c for c in self.clusters])

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` summary and ``assignments.json``: settings, model, counts, every
        cluster with its faces (largest first), unclustered faces, photos without a face, and
        ``failed`` in the uniform CLI shape ``[{"index", "path", "error"}]``."""
        return {
            "version": FORMAT_VERSION, "out": self.out, "settings": self.settings, "model": self.model,
            "threshold": self.settings.get("threshold"), "threshold_source": self.settings.get("threshold_source"),
            "n_photos": self.n_photos, "n_faces": self.n_faces, "n_clusters": self.n_clusters,
            "n_unclustered": len(self.unclustered), "n_embedded_now": self.n_embedded_now,
            "n_ignored_files": self.n_ignored,
            "seconds_embed": round(self.seconds_embed, 3), "seconds_cluster": round(self.seconds_cluster, 3),
            "clusters": [c.to_dict() for c in self.clusters],
            "unclustered": [f.to_dict(None) for f in self.unclustered],
            "no_face": list(self.no_face), "duplicates": dict(self.duplicates),
            "warnings": [{"path": p, "message": m} for p, m in self.warnings],
            "failed": [e.to_dict() for e in self.failed],
            "check_first": [dict(c) for c in self.check_first],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ClusterRun":
        if not isinstance(d, dict):
            raise DataError("assignments.json is not a clustering run (not a JSON object).")
        if int(d.get("version", 0) or 0) > FORMAT_VERSION:
            raise DataError(f"assignments.json was written by a newer facenet (format {d['version']}).")
        try:
            return cls(
                clusters=[Cluster.from_dict(c) for c in d["clusters"]],
                unclustered=[ClusterFace.from_dict(f) for f in d.get("unclustered", [])],
                failed=[ItemError(int(e["index"]), str(e["path"]), str(e["error"])) for e in d.get("failed", [])],
                n_photos=int(d.get("n_photos", 0)), n_faces=int(d.get("n_faces", 0)),
                n_embedded_now=int(d.get("n_embedded_now", 0)), seconds_embed=float(d.get("seconds_embed", 0.0)),
                seconds_cluster=float(d.get("seconds_cluster", 0.0)),
                warnings=[(w["path"], w["message"]) for w in d.get("warnings", [])],
                no_face=list(d.get("no_face", [])), duplicates=dict(d.get("duplicates", {})),
                settings=dict(d.get("settings", {})), model=dict(d.get("model", {})),
                n_ignored=int(d.get("n_ignored_files", 0)), out=str(d.get("out", "")),
                check_first=[{"cluster": int(c["cluster"]), "gap": float(c["gap"])} for c in d.get("check_first", [])],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"assignments.json is not a clustering run ({type(exc).__name__}: {exc}).") from None


class UnknownClusterError(UsageError, KeyError):
    """A cluster id, folder or name that the run does not have (a usage error: exit 2)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
