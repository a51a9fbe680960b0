"""One way to find and crop faces, for every path that needs face crops.

:class:`FaceCropper` owns the detector, its lower-threshold retry pass, the face policy, and the
crop (size, template, margin). The pipeline (inference), ``facenet detect``, ``facenet align``
(training crops), View 1 validation during training and the benchmarks all use it, so every path
finds the same faces the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from facenet.align.crop import TEMPLATES, align_detections, fallback_crop
from facenet.data.images import DEFAULT_MAX_PIXELS, ImageInput, load_image
from facenet.detect.registry import create_detector, detector_config
from facenet.detect.types import FACE_POLICIES, Detections, Detector
from facenet.validation import check_option, check_scalar


@dataclass(frozen=True)
class FaceCrops:
    """Every face found in one image.

    detections: the K faces, highest score first (K may be 0).
    crops: (K, H, W, 3) uint8 aligned crops, in the same order.
    """

    detections: Detections
    crops: np.ndarray

    def __len__(self) -> int:
        return len(self.detections)


@dataclass(frozen=True)
class PrimaryCrops:
    """The face each of N images stands for (its primary face, by the face policy).

    crops: (N, H, W, 3) uint8; the documented centre-crop fallback where no face was found.
    detections: N rows (box, score, landmarks of the face used; NaN box and 0 score for the fallback).
    face_found: (N,) bool, False where the fallback was used.
    n_faces: (N,) int, how many faces each image had (after the retry pass).
    """

    crops: np.ndarray
    detections: Detections
    face_found: np.ndarray
    n_faces: np.ndarray

    def __len__(self) -> int:
        return len(self.crops)


class FaceCropper:
    """Detect (with one lower-threshold retry when nothing is found) and crop faces.

    detector: a registered detector name ("yunet", "mtcnn") or a detector object (then
        ``retry_detector`` may be given for the retry pass; a name gets its config's retry).
    size: (height, width) of the crops. template: "arcface_112" (5-point similarity transform)
        or "box_margin_<M>" (detector box grown by M pixels, resized).
    face_policy: which face stands for an image with several: one of FACE_POLICIES.
    retry: make the second, more permissive pass when the first finds no face.
    max_pixels: inputs above this many pixels are refused (decompression-bomb guard).
    detector_options: options for a detector built by name (e.g. ``{"score_threshold": 0.7}``).
    """

    def __init__(self, detector: str | Detector = "yunet", *, size: tuple[int, int] = (112, 112),
                 template: str = "arcface_112", face_policy: str = "central", retry: bool = True,
                 max_pixels: int = DEFAULT_MAX_PIXELS, detector_options: dict[str, Any] | None = None,
                 retry_detector: Detector | None = None) -> None:
        self.face_policy = check_option(face_policy, "face_policy", FACE_POLICIES, owner="FaceCropper")
        self.size = (check_scalar(size[0], "size", int, min_val=8, owner="FaceCropper"),
                     check_scalar(size[1], "size", int, min_val=8, owner="FaceCropper"))
        if not (template in TEMPLATES or _margin(template) is not None):
            raise ValueError(f"The 'template' parameter of FaceCropper must be one of {', '.join(map(repr, TEMPLATES))} "
                             f"or 'box_margin_<M>'. Got {template!r} instead.")
        self.template = template
        self.max_pixels = check_scalar(max_pixels, "max_pixels", int, min_val=1, owner="FaceCropper")
        opts = dict(detector_options or {})
        self._retry: Detector | None = retry_detector if retry else None
        if isinstance(detector, str):
            self.detector: Detector = create_detector(detector, **opts)
            cfg = detector_config(detector)
            if retry and cfg.retry and retry_detector is None:
                self._retry = create_detector(detector, **{**opts, **cfg.retry})
        else:
            if not callable(getattr(detector, "detect", None)):
                raise ValueError(f"The 'detector' parameter of FaceCropper must be a detector name or an object with "
                                 f"detect(image) -> Detections. Got {type(detector).__name__} instead.")
            self.detector = detector

    @classmethod
    def for_model(cls, config: Any, detector: str | Detector = "yunet", **kwargs: Any) -> "FaceCropper":
        """The cropper that makes the crops a model expects (``config.input_size``, ``config.template``)."""
        return cls(detector, size=tuple(config.input_size), template=getattr(config, "template", "arcface_112"), **kwargs)

    @property
    def margin(self) -> float | None:
        """Pixels added around the box for "box_margin_<M>" crops; None for landmark alignment."""
        return _margin(self.template)

    @property
    def retries(self) -> bool:
        """Whether a retry pass is made when the first pass finds nothing."""
        return self._retry is not None

    def __repr__(self) -> str:
        return (f"FaceCropper(detector={getattr(self.detector, 'name', type(self.detector).__name__)!r}, size={self.size}, "
                f"template={self.template!r}, face_policy={self.face_policy!r}, retry={self.retries})")

    # ------------------------------------------------------------------ detection

    def load(self, image: ImageInput) -> np.ndarray:
        """Any accepted input → (H, W, 3) uint8 RGB (raises InvalidImageError)."""
        return load_image(image, max_pixels=self.max_pixels)

    def detect(self, image: ImageInput) -> Detections:
        """All faces in one image (path, bytes, PIL or array), highest score first; may be empty."""
        return self.detect_rgb(self.load(image))

    def detect_rgb(self, img: np.ndarray) -> Detections:
        """Faces in a loaded (H, W, 3) uint8 RGB image: the detector, then the retry pass when
        it finds nothing."""
        det = self.detector.detect(img)
        if len(det) == 0 and self._retry is not None:
            det = self._retry.detect(img)
        return det

    def detect_many(self, imgs: Sequence[np.ndarray]) -> list[Detections]:
        """:meth:`detect_rgb` for loaded images of any sizes, as one batch where the detector
        batches (MTCNN runs its cascade over all of them at once); the retry pass runs on the
        images where nothing was found."""
        imgs = list(imgs)
        if not imgs:
            return []
        batch = getattr(self.detector, "detect_batch", None)
        dets = list(batch(imgs)) if batch is not None else [self.detector.detect(im) for im in imgs]
        empty = [i for i, d in enumerate(dets) if len(d) == 0]
        if empty and self._retry is not None:
            rb = getattr(self._retry, "detect_batch", None)
            again = list(rb([imgs[i] for i in empty])) if rb is not None else [self._retry.detect(imgs[i]) for i in empty]
            for i, d in zip(empty, again):
                dets[i] = d
        return dets

    # ------------------------------------------------------------------ crops

    def crop(self, img: np.ndarray, detections: Detections) -> np.ndarray:
        """Crops of the given detections of a loaded image: (K, H, W, 3) uint8."""
        return align_detections(img, detections, self.size, self.template)

    def crop_all(self, image: ImageInput) -> FaceCrops:
        """Every face in one image, detected and cropped."""
        img = self.load(image)
        det = self.detect_rgb(img)
        return FaceCrops(det, self.crop(img, det))

    def primary_index(self, img: np.ndarray, detections: Detections) -> int:
        """Index of the face the image stands for (``face_policy``), -1 when there is none."""
        return detections.primary(img.shape, self.face_policy)

    def crop_primary(self, images: ImageInput | Sequence[ImageInput]) -> PrimaryCrops:
        """The crop each image stands for: its primary face, or the counted centre-crop fallback
        (:func:`facenet.align.fallback_crop`) when no face is found, also after the retry pass.
        A single image is treated as a batch of one."""
        imgs = [self.load(src) for src in as_batch(images)]
        dets = self.detect_many(imgs)
        n = len(imgs)
        h, w = self.size
        crops = np.zeros((n, h, w, 3), np.uint8)
        found = np.zeros(n, bool)
        n_faces = np.zeros(n, np.int64)
        boxes = np.full((n, 4), np.nan, np.float32)
        scores = np.zeros(n, np.float32)
        landmarks = np.full((n, 5, 2), np.nan, np.float32)
        for i, (img, det) in enumerate(zip(imgs, dets)):
            n_faces[i] = len(det)
            k = self.primary_index(img, det)
            if k < 0:
                crops[i] = fallback_crop(img, (h, w))
                continue
            face = det.select(k)
            crops[i] = self.crop(img, face)[0]
            found[i], boxes[i], scores[i], landmarks[i] = True, face.boxes[0], face.scores[0], face.landmarks[0]
        return PrimaryCrops(crops, Detections(boxes, scores, landmarks), found, n_faces)


def as_batch(images: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    """A list of inputs: a 4-D array is N images, a list/tuple is itself, anything else one image."""
    if isinstance(images, np.ndarray):
        return list(images) if images.ndim == 4 else [images]
    if isinstance(images, (list, tuple)):
        return list(images)
    return [images]  # a path, bytes or a PIL image


def _margin(template: str) -> float | None:
    if isinstance(template, str) and template.startswith("box_margin_"):
        try:
            m = float(template.rsplit("_", 1)[1])
        except ValueError:
            return None
        return m if m >= 0 else None
    return None
