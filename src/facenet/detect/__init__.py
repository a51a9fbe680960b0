"""Face detectors: boxes, scores and 5 landmarks per face."""

from facenet.detect.registry import DetectorConfig, create_detector, detector_config, list_detectors
from facenet.detect.types import Detections, Detector

__all__ = ["Detections", "Detector", "DetectorConfig", "create_detector", "detector_config", "list_detectors"]
