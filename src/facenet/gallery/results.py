"""What enrolment and identification return (typed, JSON-ready)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facenet.errors import ItemError

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Candidate:
    """One enrolled person near a query face: name and squared-L2 distance (0..4)."""

    name: str
    distance: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "distance": round(float(self.distance), 6)}


@dataclass(frozen=True)
class Identification:
    """The answer for one face: ``name`` is the nearest person when their distance is below the
    threshold, else ``"unknown"``. candidates: the top-k people, nearest first (one entry per
    person, however many photos they have). box: (4,) x1, y1, x2, y2 (NaN for a bare embedding)."""

    name: str
    distance: float
    threshold: float
    candidates: tuple[Candidate, ...]
    box: tuple[float, float, float, float] = (float("nan"),) * 4
    score: float = float("nan")

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        return {"box": [None if np.isnan(v) else round(float(v), 2) for v in self.box], "name": self.name,
                "distance": None if not np.isfinite(self.distance) else round(float(self.distance), 6),
                "threshold": round(float(self.threshold), 6), "candidates": [c.to_dict() for c in self.candidates]}


@dataclass(frozen=True)
class ImageIdentification:
    """Every face found in one photo, identified."""

    source: str
    faces: tuple[Identification, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.source, "faces": [f.to_dict() for f in self.faces]}


@dataclass(frozen=True)
class EnrolResult:
    """What one enrolment did. added: new face ids. already_enrolled: photos (by SHA-256)
    that this person already had (a no-op). errors: photos refused (no face, several faces,
    unreadable), with the reason; the other photos were still enrolled."""

    subject: str
    added: tuple[int, ...] = ()
    already_enrolled: tuple[str, ...] = ()
    errors: tuple[ItemError, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "added": list(self.added), "already_enrolled": list(self.already_enrolled),
                "failed": [e.to_dict() for e in self.errors]}
