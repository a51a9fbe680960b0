"""Upgrade a gallery to a harmonic model: re-embed its faces with the new model, from their photos.

A gallery made by SFace keeps working with ``fused`` queries (the models are declared harmonic),
and fused enrolments add fused faces (the lazy path). :func:`upgrade_gallery` does the rest when
the photos are at hand: every face whose photo is found under the given folders (by the SHA-256
stored with the face) and whose stored box is found again by the detector is embedded anew by the
new model, and its vector replaced — one transaction per person (like an enrolment, a crash
leaves each person's faces either all as they were or all upgraded, and a second run goes on
where the first stopped). Faces without a photo or a box stay as they are and keep working
(mixed pairs). When no face of another model is left, the new model becomes the gallery's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facenet.detect.nms import iou as box_iou
from facenet.gallery.auto_threshold import META_IMPOSTOR
from facenet.gallery.store import ModelIdentity

#: Meta keys a gallery keeps in its store (facenet.gallery.gallery uses them; an upgrade rewrites them).
META_THRESHOLD = "identify_threshold"  # a threshold set by the user or `facenet calibrate`
META_THRESHOLD_SOURCE = "identify_threshold_source"
META_FPIR = "identify_fpir"  # the false-positive identification rate the automatic threshold aims at
META_VERIFICATION = "verification_calibration"  # JSON: what `facenet calibrate --gallery` chose
DEFAULT_FPIR = 1e-2

#: Smallest overlap (intersection over union) of a detected face with the stored box to count
#: as the enrolled face found again.
MIN_IOU = 0.5
#: Why a face is left as it is.
NO_PHOTO, NO_BOX, NO_FACE, UNREADABLE = "photo not found", "no box stored", "face not found again", "photo unreadable"
GONE = "removed meanwhile"


@dataclass(frozen=True)
class UpgradeReport:
    """What an upgrade did. model: the new model. upgraded: faces re-embedded now; already:
    faces that were the new model's before; left: faces left as they are, by reason (NO_PHOTO,
    NO_BOX, NO_FACE, UNREADABLE, GONE); identity: the gallery's model afterwards; photos: image files
    found under the folders; notes: what changed with the gallery's model (Gallery.upgrade)."""

    model: ModelIdentity
    upgraded: int
    already: int
    left: dict[str, int] = field(default_factory=dict)
    identity: ModelIdentity | None = None
    photos: int = 0
    notes: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return self.identity == self.model

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "upgraded": self.upgraded, "already": self.already,
                "left": int(sum(self.left.values())), "left_by_reason": dict(self.left), "photos_found": self.photos,
                "identity": None if self.identity is None else self.identity.to_dict(), "complete": self.complete,
                "notes": list(self.notes)}


def index_photos(dirs: Sequence[str | Path]) -> dict[str, Path]:
    """SHA-256 of every image file under ``dirs`` (recursively, hidden entries skipped:
    :func:`facenet.data.files.find_photos`) -> its path. DataError for a folder that does not
    exist."""
    from facenet.data.files import find_photos
    from facenet.gallery.store import photo_sha256

    found: dict[str, Path] = {}
    for p in find_photos([Path(d) for d in dirs])[0]:
        try:
            found.setdefault(photo_sha256(p), p)
        except OSError:
            continue
    return found


def upgrade_gallery(gallery: Any, photo_dirs: Sequence[str | Path], *, min_iou: float = MIN_IOU,
                    progress: Callable[[str, int], None] | None = None) -> UpgradeReport:
    """Re-embed with ``gallery``'s query model (a :class:`~facenet.gallery.gallery.Gallery` whose
    pipeline is the new model's) every face of another
    model whose photo is under ``photo_dirs`` and whose stored box the detector finds again
    (IoU >= ``min_iou``); one transaction per person. Then, when every face is the new model's,
    it becomes the gallery's model. progress(subject, faces upgraded) after each person."""
    from facenet.errors import FacenetError
    from facenet.validation import check_scalar

    min_iou = check_scalar(min_iou, "min_iou", float, min_val=0.0, max_val=1.0, include="right", owner="upgrade")
    store, target = gallery.store, gallery.query_identity
    photos = index_photos(photo_dirs)
    upgraded = already = 0
    left: dict[str, int] = {}
    for subject in store.subjects():
        updates = []
        for f in store.faces(subject.name):
            if (f.model or store.identity) == target:
                already += 1
                continue
            path = photos.get(f.photo_sha256.lower()) if f.photo_sha256 else None
            why = NO_PHOTO if path is None else NO_BOX if not np.all(np.isfinite(f.box)) else None
            if why is None:
                try:
                    crops = gallery.pipeline.crop_all(path)
                except (FacenetError, OSError):
                    why = UNREADABLE
                else:
                    iou = box_iou(np.asarray(f.box, np.float64)[None], crops.detections.boxes.reshape(-1, 4))[0]
                    j = int(np.argmax(iou)) if len(iou) else -1
                    if j < 0 or iou[j] < min_iou:
                        why = NO_FACE
                    else:
                        updates.append((f.face_id, gallery.pipeline.embed_faces(crops.crops[j:j + 1])[0]))
            if why is not None:
                left[why] = left.get(why, 0) + 1
        n = store.replace_embeddings(subject.name, updates, target) if updates else 0
        upgraded += n
        if n < len(updates):  # removed by another process meanwhile
            left[GONE] = left.get(GONE, 0) + len(updates) - n
        if progress is not None:
            progress(subject.name, n)
    left = {k: v for k, v in left.items() if v}
    notes: tuple[str, ...] = ()
    before = store.identity
    if all(m == target for m in store.model_counts()) and before != target:
        store.set_identity(target)
        notes = retire_calibrations(gallery, before)
    return UpgradeReport(target, upgraded, already, left, store.identity, len(photos), notes)


def retire_calibrations(gallery: Any, before: ModelIdentity) -> tuple[str, ...]:
    """After the gallery's model changed from ``before``: drop what was calibrated with it (the
    stored verification calibration and impostor model) and rescale a fixed identification
    threshold by the ratio of the two models' verification thresholds. Returns what it did."""
    from facenet.gallery.harmonic import own_threshold

    store, notes = gallery.store, []
    for key, what in ((META_VERIFICATION, "verification calibration"), (META_IMPOSTOR, "impostor model")):
        if store.get_meta(key):
            store.set_meta(key, "")
            notes.append(f"the stored {what} was made with {before.model}: dropped (`facenet calibrate --gallery`)")
    fixed, old, new = store.get_meta(META_THRESHOLD), own_threshold(before), own_threshold(store.identity)
    if fixed and old and new:
        t = float(fixed) * new / old
        gallery.set_threshold(t, f"{store.get_meta(META_THRESHOLD_SOURCE) or 'set by the user'}, "
                                 f"rescaled x{new / old:.3f} from {before.model} at the upgrade")
        notes.append(f"the fixed identification threshold {float(fixed):.4f} was rescaled to {t:.4f}")
    invalidate = getattr(getattr(gallery, "_auto", None), "invalidate", None)
    if invalidate is not None:
        invalidate()
    return tuple(notes)
