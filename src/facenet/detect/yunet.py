"""YuNet (Wu et al., 2023): a fast anchor-free face detector, run through OpenCV's DNN module."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from facenet.detect.catalog import YUNET_WEIGHTS
from facenet.detect.types import Detections, DetectorConfig, check_rgb_image
from facenet.validation import check_scalar, check_unit_interval
from facenet.weights import verified_path


def build(config: DetectorConfig, score_threshold: float | None = None, nms_threshold: float | None = None,
          max_side: int | None = None) -> "YuNet":
    """A :class:`YuNet` with ``config.defaults`` for the options not given."""
    return YuNet(**config.options(score_threshold=score_threshold, nms_threshold=nms_threshold, max_side=max_side))


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
        self.score_threshold = check_unit_interval(score_threshold, "score_threshold", owner="YuNet")
        self.nms_threshold = check_unit_interval(nms_threshold, "nms_threshold", owner="YuNet")
        self.max_side = check_scalar(max_side, "max_side", int, min_val=32, owner="YuNet")
        path = verified_path(YUNET_WEIGHTS)
        self._net = _quietly(cv2.FaceDetectorYN.create, str(path), "", (320, 320), self.score_threshold, self.nms_threshold, 5000)

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in one ``(H, W, 3)`` uint8 RGB image, highest score first."""
        check_rgb_image(image)
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
