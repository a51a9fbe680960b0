"""facenet: FaceNet-style face detection, alignment, 128-D embeddings, verification and evaluation.

>>> from facenet import FacePipeline
>>> pipe = FacePipeline(detector="yunet", embedder="sface")
>>> pipe.verify("a.jpg", "b.jpg")          # Verification(distance=..., threshold=..., same=...)
"""

from facenet.align import FaceCropper, FaceCrops, PrimaryCrops
from facenet.detect import Detections, Detector, create_detector, list_detectors
from facenet.distance import Verification, pairwise_squared_l2, squared_l2
from facenet.errors import (
    DataError,
    FacenetError,
    InvalidImageError,
    ItemError,
    UncalibratedError,
    UnknownModelError,
    UsageError,
    WeightsError,
)
from facenet.eval.calibrate import ThresholdCalibrator
from facenet.models import Embedder, ModelConfig, create_model, list_models, model_config
from facenet.pipeline import FaceEmbeddings, FacePipeline
from facenet.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "DataError", "Detections", "Detector", "Embedder", "FaceCropper", "FaceCrops", "FaceEmbeddings", "FacePipeline",
    "FacenetError", "InvalidImageError", "ItemError", "ModelConfig", "PrimaryCrops", "Settings", "ThresholdCalibrator",
    "UncalibratedError", "UnknownModelError", "UsageError", "Verification", "WeightsError", "create_detector",
    "create_model", "list_detectors", "list_models", "model_config", "pairwise_squared_l2", "squared_l2",
]
