"""What every embedder shares: crop validation, batching, flip TTA and L2 normalisation."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np

from facenet.models.config import ModelConfig


class Embedder:
    """Base of the ONNX and PyTorch embedders. Subclasses set ``config`` and ``batch_size`` and
    implement :meth:`_forward` (one batch of uint8 crops → raw (n, D) float32 vectors); they may
    override :meth:`_session` to wrap a whole call (e.g. eval mode, thread count)."""

    config: ModelConfig
    batch_size: int

    @property
    def embedding_size(self) -> int:
        return self.config.embedding_size

    @property
    def input_size(self) -> tuple[int, int]:
        return self.config.input_size

    def _forward(self, crops: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _session(self) -> AbstractContextManager:
        return nullcontext()

    def embed_faces(self, crops: np.ndarray, flip: bool = False) -> np.ndarray:
        """Embeddings of aligned crops.

        crops: (N, H, W, 3) uint8 RGB at ``config.input_size``.
        flip: also embed the mirrored crops, add the two vectors and re-normalise (flip TTA).
        Returns (N, D) float32, L2-normalised (N may be 0).
        """
        crops = np.asarray(crops)
        h, w = self.config.input_size
        if crops.ndim != 4 or crops.shape[1:] != (h, w, 3) or crops.dtype != np.uint8:
            raise ValueError(
                f"{self.config.name} takes aligned crops of shape (N, {h}, {w}, 3) uint8. Got {crops.dtype} {crops.shape} instead."
            )
        n = len(crops)
        if n == 0:
            return np.zeros((0, self.embedding_size), np.float32)
        if flip:
            crops = np.concatenate([crops, crops[:, :, ::-1]], axis=0)
        with self._session():
            raw = np.concatenate([np.asarray(self._forward(crops[i : i + self.batch_size]), np.float32).reshape(
                len(crops[i : i + self.batch_size]), -1) for i in range(0, len(crops), self.batch_size)])
        if raw.shape[1] != self.embedding_size:
            raise ValueError(f"{self.config.name} produced {raw.shape[1]}-D embeddings; its config says {self.embedding_size}.")
        if flip:
            raw = l2_normalise(raw[:n]) + l2_normalise(raw[n:])
        return l2_normalise(raw)


def l2_normalise(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm. v: (N, D) → (N, D) float32."""
    v = v.astype(np.float32, copy=False)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
