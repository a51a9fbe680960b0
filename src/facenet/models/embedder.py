"""Run an ONNX face-embedding network on aligned crops, with its own preprocessing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facenet.models.base import Embedder
from facenet.models.config import ModelConfig
from facenet.models.onnx_graph import prepare_onnx

BACKENDS = ("opencv", "onnxruntime")


class OnnxEmbedder(Embedder):
    """An embedding network loaded from ONNX.

    config: the model's :class:`ModelConfig` (preprocessing, embedding size).
    path: the ONNX file (already SHA-256 verified by the caller when it is a shipped weight).
    backend: "opencv" (OpenCV DNN; the faster of the two on x86 CPUs for SFace) or
        "onnxruntime". Both run the same prepared graph; embeddings agree to cosine > 0.9999.
    threads: CPU threads for inference (None: all cores).
    batch_size: crops per forward pass.
    """

    def __init__(self, config: ModelConfig, path: Path, input_name: str = "data", backend: str = "opencv",
                 threads: int | None = None, batch_size: int = 32) -> None:
        import onnx

        if backend not in BACKENDS:
            raise ValueError(f"The 'backend' parameter must be one of {BACKENDS}. Got {backend!r} instead.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"The 'batch_size' parameter must be an int in [1, inf). Got {batch_size!r} instead.")
        self.config = config
        self.backend = backend
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        blob = prepare_onnx(onnx.load(str(path)), input_name).SerializeToString()
        self._input_name = input_name
        if backend == "opencv":
            import cv2

            self._net = cv2.dnn.readNetFromONNX(np.frombuffer(blob, np.uint8))
            self._sess = None
        else:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = self.threads
            so.inter_op_num_threads = 1
            so.log_severity_level = 3
            self._sess = ort.InferenceSession(blob, so, providers=["CPUExecutionProvider"])
            self._net = None
        mean = np.asarray(config.mean, np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(config.std, np.float32).reshape(1, 3, 1, 1)
        self._mean, self._inv_std = mean, 1.0 / std

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB → (N, 3, H, W) float32 in the network's own normalisation."""
        x = np.asarray(crops)
        if self.config.channel_order == "BGR":
            x = x[..., ::-1]
        x = x.transpose(0, 3, 1, 2).astype(np.float32)
        return np.ascontiguousarray((x - self._mean) * self._inv_std)

    def _forward(self, crops: np.ndarray) -> np.ndarray:
        x = self.preprocess(crops)
        if self._sess is not None:
            return np.asarray(self._sess.run(None, {self._input_name: x})[0], np.float32)
        self._net.setInput(x)
        return np.asarray(self._net.forward(), np.float32).reshape(len(x), -1)

