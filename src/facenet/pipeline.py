"""The face pipeline: detect → align → embed, and verification on the embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from facenet.align.crop import align_detections, fallback_crop
from facenet.data.images import DEFAULT_MAX_PIXELS, ImageInput, load_image
from facenet.detect.registry import create_detector, detector_config
from facenet.detect.types import Detections
from facenet.distance import Verification, squared_l2
from facenet.models.registry import create_model


@dataclass(frozen=True)
class FaceEmbeddings:
    """One embedding per input image (its primary face).

    embeddings: (N, D) float32, L2-normalised.
    face_found: (N,) bool; False where no face was detected and the fallback centre crop was used.
    boxes: (N, 4) float32 box of the face used (NaN where the fallback was used).
    scores: (N,) float32 detector score (0 where the fallback was used).
    """

    embeddings: np.ndarray
    face_found: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.embeddings)


class FacePipeline:
    """Detect, align and embed faces; verify pairs.

    detector: a registered detector name ("yunet", "mtcnn") or a detector object.
    embedder: a registered model name ("sface") or an embedder object with ``config`` and
        ``embed_faces``.
    flip: flip test-time augmentation (mirror crop embedded too, vectors summed, re-normalised).
    face_policy: which face an image stands for when it has several: "central", "largest", "score".
    retry: when the detector finds nothing, try once more with its lower ``retry`` thresholds
        (set in its config) before falling back to the centre crop.
    threshold: squared-L2 verification threshold; default: the embedder's calibrated one.
    max_pixels: inputs above this many pixels are refused (decompression-bomb guard).
    embedder_kwargs: passed to the model (``backend``, ``threads``, ``batch_size``).
    """

    def __init__(self, detector: Any = "yunet", embedder: Any = "sface", *, flip: bool = False,
                 face_policy: str = "central", retry: bool = True, threshold: float | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, **embedder_kwargs: Any) -> None:
        if face_policy not in ("central", "largest", "score"):
            raise ValueError(f"The 'face_policy' parameter must be one of 'central', 'largest', 'score'. Got {face_policy!r} instead.")
        self.detector = create_detector(detector) if isinstance(detector, str) else detector
        self._retry_detector = None
        if retry and isinstance(detector, str) and detector_config(detector).retry:
            self._retry_detector = create_detector(detector, **detector_config(detector).retry)
        self.embedder = create_model(embedder, **embedder_kwargs) if isinstance(embedder, str) else embedder
        self.flip = bool(flip)
        self.face_policy = face_policy
        self.max_pixels = max_pixels
        cfg = self.embedder.config
        calibrated = cfg.verification_threshold(self.flip)
        self.threshold = float(threshold if threshold is not None else (calibrated if calibrated is not None else 1.0))
        if not 0.0 < self.threshold < 4.0:
            raise ValueError(f"The 'threshold' parameter must be a float in (0, 4). Got {threshold!r} instead.")

    @property
    def crop_size(self) -> tuple[int, int]:
        return tuple(self.embedder.config.input_size)  # type: ignore[return-value]

    def load(self, image: ImageInput) -> np.ndarray:
        """Any accepted input → (H, W, 3) uint8 RGB (raises InvalidImageError)."""
        return load_image(image, max_pixels=self.max_pixels)

    def detect(self, image: ImageInput) -> Detections:
        """All faces in one image (path, bytes, PIL or array), highest score first; may be empty."""
        return self.detect_rgb(self.load(image))

    def detect_rgb(self, img: np.ndarray) -> Detections:
        """:meth:`detect` on an already loaded (H, W, 3) uint8 RGB array: the detector, then the
        lower-threshold retry pass when it finds nothing."""
        det = self.detector.detect(img)
        if len(det) == 0 and self._retry_detector is not None:
            det = self._retry_detector.detect(img)
        return det

    def detect_batch(self, images: Sequence[ImageInput]) -> list[Detections]:
        """:meth:`detect` for each image; sizes may differ."""
        return [self.detect(im) for im in images]

    @property
    def template(self) -> str:
        return getattr(self.embedder.config, "template", "arcface_112")

    def align(self, image: ImageInput, detections: Detections) -> np.ndarray:
        """Aligned crops of every detection: (K, H, W, 3) uint8 at the embedder's input size."""
        return align_detections(self.load(image), detections, self.crop_size, self.template)

    def primary_crops(self, images: ImageInput | Sequence[ImageInput]) -> tuple[np.ndarray, Detections, np.ndarray]:
        """The crop each image stands for: its primary face (``face_policy``), or the counted
        centre-crop fallback when no face is found (also after the retry pass).

        Returns (crops (N, H, W, 3) uint8, the primary detections (N boxes; NaN box and 0 score
        where the fallback was used), face_found (N,) bool).
        """
        batch = _as_batch(images)
        n = len(batch)
        h, w = self.crop_size
        crops = np.zeros((n, h, w, 3), np.uint8)
        found = np.zeros(n, bool)
        boxes = np.full((n, 4), np.nan, np.float32)
        scores = np.zeros(n, np.float32)
        landmarks = np.full((n, 5, 2), np.nan, np.float32)
        for i, src in enumerate(batch):
            img = self.load(src)
            det = self.detect_rgb(img)
            k = det.primary(img.shape, self.face_policy)
            if k < 0:
                crops[i] = fallback_crop(img, (h, w))
                continue
            face = det.select(k)
            crops[i] = align_detections(img, face, (h, w), self.template)[0]
            found[i], boxes[i], scores[i], landmarks[i] = True, face.boxes[0], face.scores[0], face.landmarks[0]
        return crops, Detections(boxes, scores, landmarks), found

    def embed_faces(self, crops: np.ndarray) -> np.ndarray:
        """Embeddings of already aligned crops (N, H, W, 3) uint8 → (N, D) float32, unit norm."""
        return self.embedder.embed_faces(crops, flip=self.flip)

    def represent(self, images: ImageInput | Sequence[ImageInput]) -> FaceEmbeddings:
        """One embedding per image: its primary face (``face_policy``), or the counted centre-crop
        fallback when no face is found. A single image is treated as a batch of one."""
        crops, det, found = self.primary_crops(images)
        return FaceEmbeddings(self.embed_faces(crops), found, det.boxes, det.scores)

    def embed(self, images: ImageInput | Sequence[ImageInput]) -> np.ndarray:
        """(N, D) float32 L2-normalised embeddings, one per image (see :meth:`represent`)."""
        return self.represent(images).embeddings

    def embed_all(self, image: ImageInput) -> tuple[Detections, np.ndarray]:
        """Every face in one image: its detections and (K, D) embeddings (K may be 0)."""
        img = self.load(image)
        det = self.detector.detect(img)
        return det, self.embed_faces(align_detections(img, det, self.crop_size, self.template))

    def verify(self, a: ImageInput, b: ImageInput) -> Verification:
        """Same person? Squared L2 between the two images' primary faces, against the threshold."""
        e = self.embed([a, b])
        d = float(squared_l2(e[0], e[1])[0])
        return Verification(d, self.threshold, d < self.threshold)


def _as_batch(images: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    if isinstance(images, np.ndarray):
        return list(images) if images.ndim == 4 else [images]
    if isinstance(images, (list, tuple)):
        return list(images)
    return [images]  # a path, bytes or a PIL image
