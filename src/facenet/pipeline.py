"""The face pipeline: detect → align → embed, and verification on the embeddings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from facenet.align.cropper import FaceCropper, FaceCrops, as_batch
from facenet.data.images import DEFAULT_MAX_PIXELS, ImageInput, describe_source
from facenet.detect.types import Detections, Detector
from facenet.distance import Verification, squared_l2
from facenet.errors import FacenetError, ItemError, UncalibratedError
from facenet.models.base import Embedder
from facenet.models.registry import create_model
from facenet.settings import Settings
from facenet.validation import check_option, check_scalar

ON_ERROR = ("raise", "collect")


@dataclass(frozen=True)
class FaceEmbeddings:
    """One embedding per usable input image (its primary face).

    embeddings: (N, D) float32, L2-normalised.
    face_found: (N,) bool; False where no face was detected and the fallback centre crop was used.
    boxes: (N, 4) float32 box of the face used (NaN where the fallback was used).
    scores: (N,) float32 detector score (0 where the fallback was used).
    index: (N,) int, the position of each row in the input batch (0..N-1 unless inputs failed).
    errors: the inputs that could not be read (``on_error="collect"``), in input order; empty otherwise.
    """

    embeddings: np.ndarray
    face_found: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    errors: tuple[ItemError, ...] = ()

    def __post_init__(self) -> None:
        if len(self.index) != len(self.embeddings):
            object.__setattr__(self, "index", np.arange(len(self.embeddings), dtype=np.int64))

    def __len__(self) -> int:
        return len(self.embeddings)


class FacePipeline:
    """Detect, align and embed faces; verify pairs.

    detector: a registered detector name ("yunet", "mtcnn") or a detector object.
    embedder: a registered model name ("sface"), an exported ``.onnx`` path, or an
        :class:`facenet.models.Embedder`.
    flip: flip test-time augmentation (mirror crop embedded too, vectors summed, re-normalised).
    face_policy: which face an image stands for when it has several: "central", "largest", "score".
    retry: when the detector finds nothing, try once more with its lower ``retry`` thresholds
        (set in its config) before falling back to the centre crop.
    threshold: squared-L2 verification threshold; default: the embedder's calibrated one. A model
        without a calibrated threshold has ``threshold = None`` and :meth:`verify` refuses.
    max_pixels: inputs above this many pixels are refused (decompression-bomb guard).
    settings: where user models and caches live (default :meth:`Settings.from_env`).
    embedder_kwargs: passed to the model (``backend``, ``threads``, ``batch_size``).

    The face finding and cropping is :attr:`cropper` (a :class:`FaceCropper`), the same one
    ``facenet detect``, ``facenet align`` and training validation use.
    """

    def __init__(self, detector: str | Detector = "yunet", embedder: str | Embedder = "sface", *, flip: bool = False,
                 face_policy: str = "central", retry: bool = True, threshold: float | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, settings: Settings | None = None, **embedder_kwargs: Any) -> None:
        threshold = check_scalar(threshold, "threshold", float, min_val=0.0, max_val=4.0, include="neither",
                                 owner="FacePipeline", allow_none=True)
        self.embedder: Embedder = (create_model(embedder, settings=settings, **embedder_kwargs)
                                   if isinstance(embedder, str) else embedder)
        self.cropper = FaceCropper.for_model(self.embedder.config, detector, face_policy=face_policy, retry=retry,
                                             max_pixels=max_pixels)
        self.flip = bool(flip)
        calibrated = self.embedder.config.verification_threshold(self.flip)
        #: squared-L2 verification threshold, or None for a model that has none (verify refuses).
        self.threshold: float | None = threshold if threshold is not None else calibrated

    @property
    def detector(self) -> Detector:
        return self.cropper.detector

    @property
    def face_policy(self) -> str:
        return self.cropper.face_policy

    @property
    def max_pixels(self) -> int:
        return self.cropper.max_pixels

    @property
    def crop_size(self) -> tuple[int, int]:
        return self.cropper.size

    @property
    def template(self) -> str:
        return self.cropper.template

    def load(self, image: ImageInput) -> np.ndarray:
        """Any accepted input → (H, W, 3) uint8 RGB (raises InvalidImageError)."""
        return self.cropper.load(image)

    def detect(self, image: ImageInput) -> Detections:
        """All faces in one image (path, bytes, PIL or array), highest score first; may be empty."""
        return self.cropper.detect(image)

    def detect_rgb(self, img: np.ndarray) -> Detections:
        """:meth:`detect` on an already loaded (H, W, 3) uint8 RGB array (with the retry pass)."""
        return self.cropper.detect_rgb(img)

    def detect_batch(self, images: Sequence[ImageInput]) -> list[Detections]:
        """:meth:`detect` for each image; sizes may differ."""
        return self.cropper.detect_many([self.load(im) for im in images])

    def align(self, image: ImageInput, detections: Detections) -> np.ndarray:
        """Aligned crops of every detection: (K, H, W, 3) uint8 at the embedder's input size."""
        return self.cropper.crop(self.load(image), detections)

    def embed_faces(self, crops: np.ndarray) -> np.ndarray:
        """Embeddings of already aligned crops (N, H, W, 3) uint8 → (N, D) float32, unit norm."""
        return self.embedder.embed_faces(crops, flip=self.flip)

    def represent(self, images: ImageInput | Sequence[ImageInput], on_error: str = "raise") -> FaceEmbeddings:
        """One embedding per image: its primary face (``face_policy``), or the counted centre-crop
        fallback when no face is found. A single image is treated as a batch of one.

        on_error: "raise" (default): the first unreadable input raises InvalidImageError;
            "collect": unreadable inputs are left out and listed in ``errors`` (with their input
            position), the others are embedded (``index`` maps rows back to inputs).
        """
        check_option(on_error, "on_error", ON_ERROR, owner="represent")
        batch = as_batch(images)
        loaded, index, errors = [], [], []
        for i, src in enumerate(batch):
            try:
                loaded.append(self.load(src))
            except FacenetError as exc:
                if on_error == "raise":
                    raise
                errors.append(ItemError(i, describe_source(src), getattr(exc, "reason", str(exc))))
                continue
            index.append(i)
        pc = self.cropper.crop_primary(loaded)
        return FaceEmbeddings(self.embed_faces(pc.crops), pc.face_found, pc.detections.boxes, pc.detections.scores,
                              np.asarray(index, np.int64), tuple(errors))

    def embed(self, images: ImageInput | Sequence[ImageInput]) -> np.ndarray:
        """(N, D) float32 L2-normalised embeddings, one per image (see :meth:`represent`)."""
        return self.represent(images).embeddings

    def crop_all(self, image: ImageInput) -> FaceCrops:
        """Every face in one image, detected (with the retry pass) and cropped."""
        return self.cropper.crop_all(image)

    def embed_all(self, image: ImageInput) -> tuple[Detections, np.ndarray]:
        """Every face in one image: its detections and (K, D) embeddings (K may be 0)."""
        faces = self.crop_all(image)
        return faces.detections, self.embed_faces(faces.crops)

    def require_threshold(self) -> float:
        """The verification threshold, or UncalibratedError saying how to get one."""
        if self.threshold is None:
            name = self.embedder.config.name
            raise UncalibratedError(
                f"Model {name!r} has no calibrated verification threshold, so 'same person' would be a guess. "
                f"Pass a threshold (threshold=T, --threshold T) or calibrate one on labelled data "
                f"(`facenet calibrate --embedder {name}`).")
        return self.threshold

    def verify(self, a: ImageInput, b: ImageInput) -> Verification:
        """Same person? Squared L2 between the two images' primary faces, against the threshold.
        Raises UncalibratedError for a model without a threshold (pass ``threshold=``)."""
        threshold = self.require_threshold()
        e = self.embed([a, b])
        d = float(squared_l2(e[0], e[1])[0])
        return Verification(d, threshold, d < threshold)
