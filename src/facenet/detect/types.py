"""The detector result type and the protocol every detector follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from facenet.validation import check_option
from facenet.weights import WeightFile

#: How a single-face task picks its face among several (see :meth:`Detections.primary`).
FACE_POLICIES = ("central", "largest", "score")


@dataclass(frozen=True)
class DetectorConfig:
    """What a detector is and where its weights come from.

    name: registry name. description: one line. weights: the files it loads (SHA-256 checked).
    licence: the licence of the weights. defaults: the options it is built with unless given.
    retry: overrides for a second, more permissive pass when the first finds no face (empty: none).
    """

    name: str
    description: str
    weights: tuple[WeightFile, ...]
    licence: str
    defaults: dict[str, Any] = field(default_factory=dict)
    retry: dict[str, Any] = field(default_factory=dict)

    def options(self, **given: Any) -> dict[str, Any]:
        """The build options: ``defaults`` overridden by the given values that are not None."""
        return {**self.defaults, **{k: v for k, v in given.items() if v is not None}}


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, in the image's pixel coordinates.

    boxes: (K, 4) float32, ``x1, y1, x2, y2``.
    scores: (K,) float32 in [0, 1].
    landmarks: (K, 5, 2) float32, ``(x, y)`` of the eye on the image's left, the eye on the
        image's right, the nose tip, the mouth corner on the image's left and on its right.
    K may be 0: the arrays are then empty, never ``None``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", np.asarray(self.boxes, np.float32).reshape(-1, 4))
        object.__setattr__(self, "scores", np.asarray(self.scores, np.float32).reshape(-1))
        object.__setattr__(self, "landmarks", np.asarray(self.landmarks, np.float32).reshape(-1, 5, 2))
        k = len(self.boxes)
        if len(self.scores) != k or len(self.landmarks) != k:
            raise ValueError(
                f"Detections arrays disagree: {k} boxes, {len(self.scores)} scores, "
                f"{len(self.landmarks)} landmark sets"
            )

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def select(self, index: np.ndarray | Sequence[int] | int) -> "Detections":
        """The detections at ``index`` (an int, a sequence of ints or a boolean mask)."""
        idx = np.atleast_1d(np.asarray(index))
        return Detections(self.boxes[idx], self.scores[idx], self.landmarks[idx])

    def scaled(self, factor: float) -> "Detections":
        """Coordinates multiplied by ``factor`` (to map detections between image scales)."""
        return Detections(self.boxes * factor, self.scores, self.landmarks * factor)

    def sorted(self) -> "Detections":
        """Highest score first."""
        return self.select(np.argsort(-self.scores, kind="stable"))

    @property
    def areas(self) -> np.ndarray:
        """(K,) float32 box areas in pixels."""
        wh = np.clip(self.boxes[:, 2:] - self.boxes[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def primary(self, image_shape: tuple[int, ...], policy: str = "central") -> int:
        """Index of the face a single-face task should use; -1 when there is none.

        policy: ``"central"`` prefers large faces near the image centre (``sqrt(area)`` minus the
        distance of the box centre from the image centre); ``"largest"``: largest box;
        ``"score"``: highest score.
        """
        check_option(policy, "policy", FACE_POLICIES, owner="Detections.primary")
        if len(self) == 0:
            return -1
        if policy == "largest":
            return int(np.argmax(self.areas))
        if policy == "score":
            return int(np.argmax(self.scores))
        h, w = image_shape[:2]
        centres = (self.boxes[:, :2] + self.boxes[:, 2:]) / 2.0
        dist = np.hypot(centres[:, 0] - w / 2.0, centres[:, 1] - h / 2.0)
        return int(np.argmax(np.sqrt(self.areas) - dist))

    def to_dict(self) -> dict:
        """JSON-ready: a list of faces with box, score and landmarks."""
        return {
            "faces": [
                {
                    "box": [round(float(v), 2) for v in b],
                    "score": round(float(s), 4),
                    "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in lm],
                }
                for b, s, lm in zip(self.boxes, self.scores, self.landmarks)
            ]
        }


def check_rgb_image(image: object) -> None:
    """Detectors take one (H, W, 3) uint8 RGB array; ValueError saying what came otherwise."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"Detectors take an (H, W, 3) uint8 RGB array (see facenet.data.load_image). Got {got} instead.")


@runtime_checkable
class Detector(Protocol):
    """What every face detector provides.

    ``detect`` takes one ``(H, W, 3)`` uint8 RGB image of any size and returns its
    :class:`Detections` (possibly empty), highest score first. ``detect_batch`` does the same
    for a list of images that may differ in size.
    """

    name: str

    def detect(self, image: np.ndarray) -> Detections: ...

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]: ...
