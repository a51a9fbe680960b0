"""Face alignment: a similarity transform of 5 landmarks onto a canonical template."""

from facenet.align.crop import ARCFACE_112, FALLBACK_FRACTION, align_detections, align_faces, fallback_crop, template
from facenet.align.similarity import apply_transform, estimate_similarity

__all__ = ["ARCFACE_112", "FALLBACK_FRACTION", "align_detections", "align_faces", "fallback_crop", "template", "apply_transform", "estimate_similarity"]
