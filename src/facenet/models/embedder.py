"""Run an ONNX face-embedding network on aligned crops, with its own preprocessing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facenet.models.base import Embedder
from facenet.models.config import ModelConfig
from facenet.models.graph_cache import prepared_graph
from facenet.validation import check_option, check_scalar, check_type

BACKENDS = ("opencv", "onnxruntime")


class OnnxEmbedder(Embedder):
    """An embedding network loaded from ONNX.

    config: the model's :class:`ModelConfig` (preprocessing, embedding size).
    path: the ONNX file (already SHA-256 verified by the caller when it is a shipped weight).
    backend: "opencv" (OpenCV DNN; the faster of the two on x86 CPUs for SFace) or
        "onnxruntime". Both run the same prepared graph; embeddings agree to cosine > 0.9999.
    threads: CPU threads for inference (None: all cores).
    batch_size: crops per forward pass.
    sha256: hex SHA-256 of ``path`` when the caller already verified it (shipped weights); None:
        computed here when a cache is used.
    cache_dir: folder for prepared graphs (:mod:`facenet.models.graph_cache`; the usual one is
        ``Settings.from_env().cache_dir``); None: prepare in memory on every load. On a cache hit
        ``onnx`` is not imported.
    """

    def __init__(self, config: ModelConfig, path: Path, input_name: str = "data", backend: str = "opencv",
                 threads: int | None = None, batch_size: int = 32, *, sha256: str | None = None,
                 cache_dir: Path | None = None) -> None:
        check_option(backend, "backend", BACKENDS, owner="OnnxEmbedder")
        check_scalar(batch_size, "batch_size", int, min_val=1, owner="OnnxEmbedder")
        check_scalar(threads, "threads", int, min_val=1, owner="OnnxEmbedder", allow_none=True)
        check_type(input_name, "input_name", str, owner="OnnxEmbedder")
        self.config = config
        self.backend = backend
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        graph = prepared_graph(Path(path), input_name, source_sha256=sha256, cache_dir=cache_dir)
        self._input_name = input_name
        if backend == "opencv":
            import cv2

            src = str(graph) if isinstance(graph, Path) else np.frombuffer(graph, np.uint8)
            self._net = cv2.dnn.readNetFromONNX(src)
            self._sess = None
        else:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = self.threads
            so.inter_op_num_threads = 1
            so.log_severity_level = 3
            src = str(graph) if isinstance(graph, Path) else graph
            self._sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
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

