"""The storage contract of a recognition gallery, shared by the SQLite and PostgreSQL backends.

A gallery holds *subjects* (people, by unique name) and their *faces* (one embedding each, with
the photo's SHA-256, the face box, where it came from and the model identity that made it). The
gallery has one model identity (:class:`ModelIdentity`, the one that made it, or the one it was
upgraded to); every face records its own, which is the gallery's unless a harmonic model (declared
compatible, :mod:`facenet.gallery.harmonic`) enrolled it, so a gallery can hold both kinds during an
upgrade. The store records identities; the gallery decides which may be mixed. The database is the
source of truth; search indexes (FAISS, pgvector's HNSW) are derived from it.

Every method that writes is one transaction: it happens whole or not at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Protocol, Sequence

import numpy as np

from facenet.errors import FacenetError, UsageError
from facenet.validation import check_type

#: Version of the gallery schema; a backend migrates older galleries forward when it opens them.
SCHEMA_VERSION = 2  # v2: per-face model identity (a models table, faces.model_id)

#: Longest subject name (characters, after stripping).
MAX_NAME_LENGTH = 200

#: How far from 1 an enrolled embedding's L2 norm may be.
UNIT_NORM_TOLERANCE = 1e-3


#: Meta keys a store keeps for itself, written at creation; set_meta refuses them.
RESERVED_META = frozenset({"identity", "quantize", "gallery_uid", "created"})


def check_meta_key(key: object, value: object, owner: str) -> None:
    """A user meta setting: string key and value, the key not one of RESERVED_META."""
    from facenet.validation import check_type

    check_type(key, "key", str, owner=owner, what="a string")
    check_type(value, "value", str, owner=owner, what="a string")
    if not key or key in RESERVED_META:
        raise ValueError(f"The 'key' parameter of {owner} must be a non-empty key other than "
                         f"{', '.join(sorted(RESERVED_META))}. Got {key!r} instead.")


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

    def key(self) -> str:
        """The canonical JSON text of this identity (what the stores' models tables hold)."""
        import json

        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_key(cls, key: str) -> "ModelIdentity":
        import json

        return cls.from_dict(json.loads(key))


@dataclass(frozen=True)
class FaceRecord:
    """One enrolled face. embedding: (D,) float32, unit norm. box: (4,) x1, y1, x2, y2 in the
    photo (NaN when unknown). photo_sha256: SHA-256 of the photo's bytes ("" when enrolled from a
    bare embedding). source: where it came from (a file name, "import", ...). model: the
    identity of the model that made the embedding."""

    face_id: int
    subject: str
    embedding: np.ndarray
    photo_sha256: str
    box: np.ndarray
    source: str
    created: float
    model: ModelIdentity | None = None


@dataclass(frozen=True)
class SubjectSummary:
    """A subject and how many faces it holds."""

    name: str
    n_faces: int
    created: float


@dataclass(frozen=True)
class NewFace:
    """A face to enrol: (D,) float32 unit embedding, the photo's SHA-256, its box, its source,
    and the model that made it (None: the gallery's own)."""

    embedding: np.ndarray
    photo_sha256: str = ""
    box: tuple[float, float, float, float] = (float("nan"),) * 4
    source: str = ""
    model: ModelIdentity | None = None


class GalleryStore(Protocol):
    """What a gallery backend provides. Names are unique and case-sensitive.

    ``generation`` increases with every committed change (search indexes use it to know they
    are stale). All writes are single transactions; concurrent processes are safe.

    Precisely (the contract tests in tests/gallery/test_store_contract.py check it): every write
    that changes subjects or faces (add_faces that adds a face or creates a subject, rename,
    merge, remove_subject, remove_faces that removes something) bumps ``generation`` by exactly
    1 in its own transaction; a write that changes nothing (every photo already enrolled, an
    unknown face id) and ``set_meta`` leave it alone (metadata is not what an index is built
    from). So an index at generation g that sees ``add_faces`` take the store from g to g + 1
    knows that those faces were the whole change. Names go through :func:`check_subject_name`
    (stripped; "Ann " and "Ann" are one subject). Unknown names raise
    :func:`subject_not_found`'s error. A face with photo_sha256 "" (a bare embedding) is never
    a duplicate.

    Per-face models: a face is stored with ``NewFace.model`` (the gallery's identity when None);
    its embedding size must be the gallery's. :meth:`replace_embeddings` swaps faces' vectors
    for another model's (an upgrade), :meth:`set_identity` makes that model the gallery's once
    every face is its (both bump ``generation``: what the faces are, and the automatic
    threshold's model, changed).
    """

    identity: ModelIdentity
    location: str

    def generation(self) -> int: ...

    def add_faces(self, subject: str, faces: Sequence[NewFace], create: bool = True) -> list[int]:
        """Enrol faces for ``subject`` (created if missing when ``create``) in one transaction.
        A face whose photo_sha256 is already enrolled for this subject is skipped (re-enrolling
        the same photo is a no-op). Returns the new face ids (empty when all were skipped)."""
        ...

    def bulk_add(self, items: Iterable[tuple[str, Sequence[NewFace]]], *, rebuild_index: bool | None = None) -> int:
        """Enrol many ``(subject, faces)`` in ONE transaction (a gallery import) with add_faces'
        rules (subjects created, photos already enrolled skipped) and one generation bump.
        rebuild_index: a backend with an index in the database may rebuild it after the batch
        (None: its own choice); others ignore it. Returns the faces added."""
        ...

    def subjects(self) -> list[SubjectSummary]: ...

    def counts(self) -> tuple[int, int]:
        """(number of subjects, number of faces), without reading every subject."""
        ...

    def faces(self, subject: str | None = None) -> list[FaceRecord]:
        """Every face (of ``subject`` when given; SubjectNotFoundError when it does not exist)."""
        ...

    def all_embeddings(self, model: ModelIdentity | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(face ids (N,) int64, embeddings (N, D) float32, subject name per face) — what an
        index is built from (every face; with ``model``, only the faces that model made)."""
        ...

    def sample_embeddings(self, n: int, seed: int = 0,
                          model: ModelIdentity | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """At most ``n`` faces drawn without replacement, the same ones for the same gallery and
        seed (all of them when there are no more than ``n``): like :meth:`all_embeddings`."""
        ...

    def model_counts(self) -> dict[ModelIdentity, int]:
        """How many faces each model made (models without faces left out)."""
        ...

    def face_info(self, face_ids: Sequence[int]) -> dict[int, tuple[str, ModelIdentity]]:
        """face id -> (subject, model) for the ids that exist."""
        ...

    def replace_embeddings(self, subject: str, updates: Sequence[tuple[int, np.ndarray]], model: ModelIdentity) -> int:
        """In ONE transaction, give faces of ``subject`` new (D,) unit embeddings made by
        ``model`` (an upgrade; photo, box and source stay). Ids that are not this subject's faces
        are skipped. Returns the faces replaced (generation bumped when any)."""
        ...

    def set_identity(self, identity: ModelIdentity) -> None:
        """Make ``identity`` the gallery's model; GalleryError unless every face is that
        model's (the end of an upgrade). Bumps ``generation`` when it changes."""
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


def check_subject_name(name: Any, param: str = "name", owner: str | None = None) -> str:
    """A subject name, stripped: non-empty, at most MAX_NAME_LENGTH characters, no control
    characters (newlines, tabs). ValueError in facenet.validation's words otherwise."""
    check_type(name, param, str, owner=owner, what="a string")
    stripped = name.strip()
    where = f"The {param!r} parameter" + (f" of {owner}" if owner else "")
    if not stripped:
        raise ValueError(f"{where} must be a non-empty name. Got {name!r} instead.")
    if len(stripped) > MAX_NAME_LENGTH:
        raise ValueError(f"{where} must be a name of at most {MAX_NAME_LENGTH} characters. "
                         f"Got {len(stripped)} characters instead.")
    if not stripped.isprintable():  # str.isprintable counts a space as printable: the same rule, in C
        raise ValueError(f"{where} must be a name without control characters. Got {name!r} instead.")
    return stripped


def subject_not_found(name: str, known: Sequence[str]) -> SubjectNotFoundError:
    """The error for an unknown subject, naming the closest known names (difflib, like
    facenet.errors.lookup)."""
    import difflib

    lowered = {k.lower(): k for k in known}
    close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return SubjectNotFoundError(f"No subject {name!r} in the gallery.{hint}")


def check_new_faces(faces: Sequence[NewFace], identity: ModelIdentity, owner: str | None = None) -> np.ndarray:
    """Check faces to enrol against the gallery's model; returns their embeddings (N, D) float32.

    Each embedding must be (D,) with D = identity.embedding_size, finite, of unit L2 norm (within
    UNIT_NORM_TOLERANCE); each box 4 floats; each photo_sha256 "" or 64 hex digits; each source a
    string; each model None or a ModelIdentity of embedding size D. ValueError naming the first
    bad face otherwise."""
    import re

    if isinstance(faces, (str, bytes)) or not isinstance(faces, Sequence):
        raise ValueError(f"The 'faces' parameter{' of ' + owner if owner else ''} must be a sequence of NewFace. "
                         f"Got {type(faces).__name__} instead.")
    dim = identity.embedding_size
    hex64 = re.compile(r"[0-9a-fA-F]{64}")
    for i, face in enumerate(faces):
        check_type(face, f"faces[{i}]", NewFace, owner=owner, what="a NewFace")
        sha = face.photo_sha256
        if not isinstance(sha, str) or (sha and not hex64.fullmatch(sha)):
            raise ValueError(f"Face {i} has photo_sha256 {sha!r}; it must be '' or 64 hex digits.")
        if not isinstance(face.source, str):
            raise ValueError(f"Face {i} has a source of type {type(face.source).__name__}; it must be a string.")
        if len(face.box) != 4:
            raise ValueError(f"Face {i} has a box of {len(face.box)} values; it must be 4 floats (x1, y1, x2, y2).")
        if face.model is not None:
            check_type(face.model, f"faces[{i}].model", ModelIdentity, owner=owner, what="a ModelIdentity or None")
            if face.model.embedding_size != dim:
                raise ValueError(f"Face {i} was made by {face.model.describe()}, but the gallery holds "
                                 f"{dim}-D embeddings ({identity.describe()}).")
    out = np.empty((len(faces), dim), dtype=np.float32)
    for i, face in enumerate(faces):
        emb = np.asarray(face.embedding, dtype=np.float32)
        if emb.shape != (dim,):
            raise ValueError(f"Face {i} has an embedding of shape {emb.shape}, but the gallery's model "
                             f"{identity.describe()} makes ({dim},) embeddings.")
        out[i] = emb
    bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
    if len(bad):
        raise ValueError(f"Face {bad[0]} has an embedding with NaN or infinite values.")
    norms = np.linalg.norm(out, axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE)
    if len(bad):
        raise ValueError(f"Face {bad[0]} has an embedding of L2 norm {norms[bad[0]]:.4f}; gallery embeddings must be "
                         f"unit length (normalise them first).")
    return out


def face_models(faces: Sequence[NewFace], identity: ModelIdentity) -> list[ModelIdentity]:
    """The model of each face to enrol (the gallery's ``identity`` where NewFace.model is None)."""
    return [identity if f.model is None else f.model for f in faces]


def check_updates(updates: Sequence[tuple[int, np.ndarray]], model: ModelIdentity, identity: ModelIdentity,
                  owner: str) -> tuple[list[int], np.ndarray]:
    """(face ids, embeddings (N, D) float32) of :meth:`GalleryStore.replace_embeddings`'s
    arguments, checked like new faces (D, finite, unit norm)."""
    from facenet.validation import check_scalar

    check_type(model, "model", ModelIdentity, owner=owner, what="a ModelIdentity")
    ids = [check_scalar(fid, "face id", int, owner=owner) for fid, _ in updates]
    emb = check_new_faces([NewFace(e, model=model) for _, e in updates], identity, owner)
    return ids, emb


def sample_face_ids(lo: int, hi: int, count: int, n: int, seed: int) -> list[int] | None:
    """Seeded candidate face ids for :meth:`GalleryStore.sample_embeddings` between ``lo`` and
    ``hi`` (ids may have gaps: a few more are drawn), or None when all ``count`` faces fit in n."""
    if count <= n:
        return None
    rng = np.random.default_rng(seed)
    span = hi - lo + 1
    want = min(span, int(n * span / max(count, 1)) + 1)
    return sorted(int(v) + lo for v in rng.choice(span, want, replace=False))


def photo_sha256(image: Any) -> str:
    """SHA-256 of a photo's bytes (a path or bytes); of the pixel buffer for arrays / PIL images
    (what a face's ``photo_sha256`` holds)."""
    import hashlib
    from pathlib import Path

    if isinstance(image, (str, Path)):
        h = hashlib.sha256()
        with open(image, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    if isinstance(image, (bytes, bytearray, memoryview)):
        return hashlib.sha256(bytes(image)).hexdigest()
    arr = np.ascontiguousarray(np.asarray(image))
    return hashlib.sha256(arr.tobytes() + str(arr.shape).encode()).hexdigest()
