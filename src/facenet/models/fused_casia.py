"""``fused-casia``: the three-network variant of ``fused`` (SFace + dlib ResNet-128 + the CASIA
Inception-ResNet-v1), a linear head fitted here, harmonic with SFace. RESEARCH USE ONLY: the CASIA
network's weights were trained on CASIA-WebFace, whose licence allows research use only.

It takes the same 112x112 ArcFace crop as ``fused`` and ``sface`` (no change in the pipeline):

* SFace and dlib's ResNet see exactly what they see in ``fused`` (``FusedEmbedder.features``);
* the CASIA network sees the crop resized to 160x160 (bilinear), standardised ``(x - 127.5) / 128``.
  That crop is tighter than the MTCNN box + 32 px margin the network was trained on; on LFW View 1
  it scored as well as looser windows (``bench/own_embedding/casia_crop.py``), which would have
  needed a padded crop from the pipeline.

Each network's vector is L2-normalised, concatenated (768-D), and the head maps it to 128-D:
``normalise(x @ W + b)``, fitted on CelebA-wild by ``bench/own_embedding/train.py --model
fused-casia`` (every choice on LFW View 1). The head ships in ``models/weights/``, SHA-256 pinned;
every network's file is SHA-256 checked when the model is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facenet.models.base import Embedder
from facenet.models.config import ModelConfig
from facenet.models.fused import DLIB_RESNET, FusedConfig, project, shipped_head
from facenet.validation import check_scalar
from facenet.weights import WeightFile

#: CASIA's input side (its network's training size).
CASIA_SIZE = 160
#: Branch order of the concatenated features and their widths.
BRANCHES = (("sface", 128), ("dlib", 128), ("casia", 512))


def casia_crops(crops: np.ndarray) -> np.ndarray:
    """(N, 112, 112, 3) uint8 ArcFace crops → (N, 160, 160, 3) uint8 CASIA inputs (bilinear)."""
    import cv2

    if len(crops) == 0:
        return np.zeros((0, CASIA_SIZE, CASIA_SIZE, 3), np.uint8)
    return np.stack([cv2.resize(np.ascontiguousarray(c), (CASIA_SIZE, CASIA_SIZE), interpolation=cv2.INTER_LINEAR)
                     for c in crops])


def casia_network(threads: int | None = None, batch_size: int = 32) -> Any:
    """The pretrained CASIA Inception-ResNet-v1 (512-D, unit norm), weights SHA-256 checked."""
    from facenet.models import facenet_irv1

    return facenet_irv1.build(facenet_irv1.FACENET_CASIA, threads=threads, batch_size=batch_size)


HEAD = WeightFile(
    package="facenet",
    relpath="models/weights/fused_casia_head.npz",
    sha256="a42a1bc950c06d1aa5d0cad6fa54e08c624344edf79185b2dccc8c9e78cb347f",  # train.py --config config_casia.yaml --install prints it
    pip="facenet (this project)",
    licence="MIT (this project); trained on features of the networks below, one of them research use only",
)


def _config() -> FusedConfig:
    from facenet.models import facenet_irv1, sface

    return FusedConfig(
        name="fused-casia",
        description="facenet's own 128-D embedding over SFace + dlib ResNet-128 + CASIA Inception-ResNet-v1, "
        "a head fitted on CelebA-wild, harmonic with SFace (research use only: CASIA-WebFace weights)",
        input_size=(112, 112), channel_order="RGB", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
        embedding_size=128, weights=HEAD,
        licence="RESEARCH USE ONLY (CASIA Inception-ResNet-v1 weights trained on CASIA-WebFace); head MIT; "
        "SFace Apache-2.0; dlib ResNet CC0-1.0",
        # Calibrated on LFW View 1 (pairsDevTrain + pairsDevTest), never on View 2:
        # bench/own_embedding/evaluate.py --split view1 (ThresholdCalibrator, best accuracy).
        threshold=1.2066, threshold_flip=1.1691,
        threshold_source="LFW View 1 (pairsDevTrain+pairsDevTest, 3,200 pairs), yunet detector; "
        "best-accuracy thresholds: 99.56% on View 1, 99.56% with flip",
        components=(sface.WEIGHTS, DLIB_RESNET, facenet_irv1.WEIGHTS),
        # mixed pairs with SFace, both ways, LFW View 1: bench/own_embedding/evaluate.py --split view1
        compatible_with={"sface": 1.3618},
    )


FUSED_CASIA = _config()


class FusedCasiaEmbedder(Embedder):
    """SFace + dlib + CASIA features of one 112x112 ArcFace crop, through the trained head.

    head: {"W": (768, 128), "b": (128,)} float32 (None: :meth:`features` only).
    threads: CPU threads for each network (None: all cores). batch_size: crops per pass.
    """

    def __init__(self, config: ModelConfig, head: dict[str, np.ndarray] | None, *, backend: str = "opencv",
                 threads: int | None = None, batch_size: int = 32, cache_dir: Path | None = None) -> None:
        from facenet.models.fused import FUSED, FusedEmbedder

        self.config = config
        self.batch_size = check_scalar(batch_size, "batch_size", int, min_val=1, owner="FusedCasiaEmbedder")
        self.fused = FusedEmbedder(FUSED, None, backend=backend, threads=threads, batch_size=batch_size,
                                   cache_dir=cache_dir)
        self.casia = casia_network(threads=threads, batch_size=batch_size)
        self.head = head

    def features(self, crops: np.ndarray, networks: tuple[str, ...] = ("sface", "dlib", "casia")
                 ) -> dict[str, np.ndarray]:
        """Each network's L2-normalised vector of (N, 112, 112, 3) uint8 crops (no flip):
        {"sface": (N, 128), "dlib": (N, 128), "casia": (N, 512)} float32, the ``networks`` asked.
        SFace's and dlib's are ``fused``'s own."""
        crops = np.ascontiguousarray(crops)
        out: dict[str, np.ndarray] = {}
        if "sface" in networks or "dlib" in networks:
            out.update(self.fused.features(crops))
        if "casia" in networks:
            out["casia"] = self.casia.embed_faces(casia_crops(crops))
        return {k: out[k] for k in networks}

    def _forward(self, crops: np.ndarray) -> np.ndarray:
        if self.head is None:
            raise ValueError("This FusedCasiaEmbedder has no head: it gives features() only.")
        f = self.features(crops)
        return project(np.concatenate([f[k] for k, _ in BRANCHES], axis=1), self.head)


def build(config: ModelConfig, pretrained: bool = True, *, backend: str = "opencv", threads: int | None = None,
          batch_size: int = 32, cache_dir: Path | None = None) -> Any:
    """The :class:`FusedCasiaEmbedder` with its shipped head (``pretrained=False`` has no meaning)."""
    head = shipped_head(config, pretrained)
    return FusedCasiaEmbedder(config, head, backend=backend, threads=threads, batch_size=batch_size,
                              cache_dir=cache_dir)
