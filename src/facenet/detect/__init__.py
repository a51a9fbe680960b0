"""Face detectors: boxes, scores and 5 landmarks per face."""

from facenet.detect.registry import create_detector, detector_config, list_detectors
from facenet.detect.types import FACE_POLICIES, Detections, Detector, DetectorConfig

__all__ = ["FACE_POLICIES", "Detections", "Detector", "DetectorConfig", "create_detector", "detector_config", "list_detectors"]
