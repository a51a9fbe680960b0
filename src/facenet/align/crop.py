"""Aligned face crops: 5 landmarks onto a canonical template, and the no-face fallback."""

from __future__ import annotations

import cv2
import numpy as np

from facenet.align.similarity import estimate_similarity
from facenet.detect.types import Detections

#: The standard 5-point template for 112x112 ArcFace-style crops (x, y): eye on the image's
#: left, eye on the right, nose tip, mouth corners left and right.
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)

#: Landmark templates by name; "box_margin_<M>" (box crops grown by M pixels) needs no template.
TEMPLATES = ("arcface_112",)

#: Fallback crop when no face is found: the central square whose side is this fraction of the
#: image's shorter side is mapped onto the template's face region. Suits photos framed around one
#: face (LFW-style 250x250 crops: the face box is about 40-45% of the side).
FALLBACK_FRACTION = 0.45


def template(size: tuple[int, int], base: np.ndarray = ARCFACE_112) -> np.ndarray:
    """The 112x112 template scaled to an output ``size`` = (height, width). Returns (5, 2)."""
    h, w = size
    return base * np.array([w / 112.0, h / 112.0])


def align_faces(image: np.ndarray, landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp each face so that its 5 landmarks land on the canonical template.

    image: (H, W, 3) uint8. landmarks: (K, 5, 2) float. size: output (height, width).
    Returns (K, height, width, 3) uint8 (K may be 0).
    """
    lms = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    h, w = size
    out = np.zeros((len(lms), h, w, 3), np.uint8)
    dst = template(size)
    for i, lm in enumerate(lms):
        m = estimate_similarity(lm, dst)
        out[i] = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def crop_boxes(image: np.ndarray, boxes: np.ndarray, size: tuple[int, int], margin: float) -> np.ndarray:
    """Box crops as davidsandberg/facenet makes them: each box grown by ``margin / 2`` pixels on
    every side, clipped to the image, resized to ``size`` (no rotation). Returns (K, h, w, 3)."""
    h, w = size
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.zeros((len(boxes), h, w, 3), np.uint8)
    ih, iw = image.shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        l, t = int(max(np.floor(x1 - margin / 2), 0)), int(max(np.floor(y1 - margin / 2), 0))
        r, b = int(min(np.ceil(x2 + margin / 2), iw)), int(min(np.ceil(y2 + margin / 2), ih))
        if r - l < 2 or b - t < 2:
            continue
        out[i] = cv2.resize(image[t:b, l:r], (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def align_detections(image: np.ndarray, detections: Detections, size: tuple[int, int],
                     template: str = "arcface_112") -> np.ndarray:
    """Crops of every detection the way a model expects them. Returns (K, height, width, 3) uint8.

    template: "arcface_112" — similarity transform of the 5 landmarks onto the ArcFace template
    scaled to ``size``; "box_margin_<M>" — the detector box grown by M pixels, resized (the crops
    davidsandberg/facenet models were trained on).
    """
    if template.startswith("box_margin_"):
        return crop_boxes(image, detections.boxes, size, float(template.rsplit("_", 1)[1]))
    if template not in TEMPLATES:
        raise ValueError(f"Unknown alignment template {template!r}; expected 'arcface_112' or 'box_margin_<M>'.")
    return align_faces(image, detections.landmarks, size)


def fallback_crop(image: np.ndarray, size: tuple[int, int], fraction: float = FALLBACK_FRACTION) -> np.ndarray:
    """The documented no-face fallback: treat the central square of side ``fraction * min(H, W)``
    as the face box and map it where a detected face box would land. Returns (height, width, 3).
    """
    h_img, w_img = image.shape[:2]
    side = fraction * min(h_img, w_img)
    cx, cy = w_img / 2.0, h_img / 2.0
    # Pseudo-landmarks placed in that box as the template places them in its own face region.
    rel = (ARCFACE_112 - np.array([56.0, 72.0])) / 80.0  # template face box is about 80 px wide
    pseudo = np.array([cx, cy]) + rel * side
    return align_faces(image, pseudo[None], size)[0]
