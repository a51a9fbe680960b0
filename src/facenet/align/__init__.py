"""Face alignment: a similarity transform of 5 landmarks onto a canonical template, and the one
face cropper (detect with retry, face policy, crop) every path uses."""

from facenet.align.crop import ARCFACE_112, FALLBACK_FRACTION, TEMPLATES, align_detections, align_faces, fallback_crop, template
from facenet.align.cropper import FaceCropper, FaceCrops, PrimaryCrops
from facenet.align.similarity import apply_transform, estimate_similarity

__all__ = ["ARCFACE_112", "FALLBACK_FRACTION", "TEMPLATES", "FaceCropper", "FaceCrops", "PrimaryCrops", "align_detections",
           "align_faces", "apply_transform", "estimate_similarity", "fallback_crop", "template"]
