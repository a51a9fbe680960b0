"""facenet: FaceNet-style face detection, alignment, 128-D embeddings, verification and evaluation.

>>> from facenet import FacePipeline
>>> pipe = FacePipeline(detector="yunet", embedder="sface")
>>> pipe.verify("a.jpg", "b.jpg")          # Verification(distance=..., threshold=..., same=...)
"""

from facenet.detect import Detections, create_detector, list_detectors
from facenet.distance import Verification, pairwise_squared_l2, squared_l2
from facenet.errors import DataError, FacenetError, InvalidImageError, UnknownModelError, WeightsError
from facenet.models import ModelConfig, create_model, list_models, model_config
from facenet.pipeline import FaceEmbeddings, FacePipeline

__version__ = "0.1.0"

__all__ = [
    "DataError", "Detections", "FaceEmbeddings", "FacePipeline", "FacenetError", "InvalidImageError",
    "ModelConfig", "UnknownModelError", "Verification", "WeightsError", "create_detector", "create_model",
    "list_detectors", "list_models", "model_config", "pairwise_squared_l2", "squared_l2",
]
