"""Draw detections (boxes, scores, landmarks) onto an image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facenet.detect.types import Detections

_LANDMARK_COLOURS = ((255, 0, 0), (0, 0, 255), (0, 200, 0), (255, 0, 255), (0, 200, 200))


def draw_detections(image: np.ndarray, detections: Detections) -> np.ndarray:
    """A copy of ``image`` ((H, W, 3) uint8 RGB) with every face's box, score and landmarks drawn."""
    out = np.ascontiguousarray(image.copy())
    t = max(1, round(max(out.shape[:2]) / 400))
    for box, score, lms in zip(detections.boxes, detections.scores, detections.landmarks):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 0), t)
        cv2.putText(out, f"{score:.2f}", (x1, max(0, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * t, (0, 255, 0), t)
        for (x, y), c in zip(lms, _LANDMARK_COLOURS):
            cv2.circle(out, (int(round(x)), int(round(y))), t + 1, c, -1)
    return out


def save_rgb(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB uint8 image (PNG/JPEG by extension). Returns the path."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path
