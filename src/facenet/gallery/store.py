"""The storage contract of a recognition gallery, shared by the SQLite and PostgreSQL backends.

A gallery holds *subjects* (people, by unique name) and their *faces* (one embedding each, with
the photo's SHA-256, the face box and where it came from). It is made by exactly one model
identity (:class:`ModelIdentity`): embeddings from another model are refused. The database is the
source of truth; search indexes (FAISS, pgvector's HNSW) are derived from it.

Every method that writes is one transaction: it happens whole or not at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from facenet.errors import FacenetError, UsageError

#: Version of the gallery schema; a backend migrates older galleries forward when it opens them.
SCHEMA_VERSION = 1


class GalleryError(FacenetError):
    """A gallery that cannot be opened or used: not a gallery, a newer schema, a broken file."""


class ModelMismatchError(UsageError):
    """Embeddings or a gallery made by another model (or other preprocessing) than the one in use."""


class SubjectNotFoundError(UsageError, KeyError):
    """A subject name that the gallery does not hold (the message names the closest ones)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SubjectExistsError(UsageError):
    """A name that is already taken (rename/merge/create)."""


@dataclass(frozen=True)
class ModelIdentity:
    """What made a set of embeddings: they are comparable only with embeddings of the same identity.

    model: the registered model name (e.g. "sface"). weights_sha256: SHA-256 of its weight file
    ("" for a model without shipped weights). embedding_size: D. flip: flip test-time augmentation.
    """

    model: str
    weights_sha256: str
    embedding_size: int
    flip: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelIdentity":
        return cls(str(d["model"]), str(d["weights_sha256"]), int(d["embedding_size"]), bool(d["flip"]))

    def describe(self) -> str:
        sha = self.weights_sha256[:12] or "no weights"
        return f"{self.model} ({self.embedding_size}-D, weights {sha}, flip {'on' if self.flip else 'off'})"

    def check_same(self, other: "ModelIdentity", what: str = "these embeddings") -> None:
        """ModelMismatchError naming both models when ``other`` differs."""
        if other != self:
            raise ModelMismatchError(f"The gallery was made by {self.describe()}, but {what} come from "
                                     f"{other.describe()}; embeddings of different models cannot be compared.")


@dataclass(frozen=True)
class FaceRecord:
    """One enrolled face. embedding: (D,) float32, unit norm. box: (4,) x1, y1, x2, y2 in the
    photo (NaN when unknown). photo_sha256: SHA-256 of the photo's bytes ("" when enrolled from a
    bare embedding). source: where it came from (a file name, "import", ...)."""

    face_id: int
    subject: str
    embedding: np.ndarray
    photo_sha256: str
    box: np.ndarray
    source: str
    created: float


@dataclass(frozen=True)
class SubjectSummary:
    """A subject and how many faces it holds."""

    name: str
    n_faces: int
    created: float


@dataclass(frozen=True)
class NewFace:
    """A face to enrol: (D,) float32 unit embedding, the photo's SHA-256, its box, its source."""

    embedding: np.ndarray
    photo_sha256: str = ""
    box: tuple[float, float, float, float] = (float("nan"),) * 4
    source: str = ""


class GalleryStore(Protocol):
    """What a gallery backend provides. Names are unique and case-sensitive.

    ``generation`` increases with every committed change (search indexes use it to know they
    are stale). All writes are single transactions; concurrent processes are safe.
    """

    identity: ModelIdentity
    location: str

    def generation(self) -> int: ...

    def add_faces(self, subject: str, faces: Sequence[NewFace], create: bool = True) -> list[int]:
        """Enrol faces for ``subject`` (created if missing when ``create``) in one transaction.
        A face whose photo_sha256 is already enrolled for this subject is skipped (re-enrolling
        the same photo is a no-op). Returns the new face ids (empty when all were skipped)."""
        ...

    def subjects(self) -> list[SubjectSummary]: ...

    def faces(self, subject: str | None = None) -> list[FaceRecord]:
        """Every face (of ``subject`` when given; SubjectNotFoundError when it does not exist)."""
        ...

    def all_embeddings(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(face ids (N,) int64, embeddings (N, D) float32, subject name per face) — what an
        index is built from."""
        ...

    def rename(self, old: str, new: str) -> None: ...

    def merge(self, source: str, target: str) -> int:
        """Move every face of ``source`` to ``target`` and delete ``source``; returns faces moved."""
        ...

    def remove_subject(self, name: str) -> int:
        """Delete a subject and its faces; returns faces removed."""
        ...

    def remove_faces(self, face_ids: Sequence[int]) -> int: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...
