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


def draw_named(image: np.ndarray, identified: object, path: str | Path) -> Path:
    """Save ``image`` with each identified face boxed and labelled with its name and distance
    (green: known, red: unknown). identified: a :class:`facenet.gallery.results.ImageIdentification`."""
    out = np.ascontiguousarray(image.copy())
    t = max(1, round(max(image.shape[:2]) / 400))
    for f in getattr(identified, "faces", ()):
        if not all(np.isfinite(f.box)):
            continue
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        colour = (0, 200, 0) if f.known else (220, 0, 0)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, t)
        cv2.putText(out, f"{f.name} {f.distance:.2f}", (x1, max(10, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * t, colour, t)
    return save_rgb(out, path)
