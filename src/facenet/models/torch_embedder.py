"""Run a PyTorch face-embedding network on aligned crops, with the same interface as OnnxEmbedder."""

from __future__ import annotations

from typing import Any

import numpy as np

from facenet.models.config import ModelConfig


class TorchEmbedder:
    """An embedding network held as a ``torch.nn.Module``.

    config: the model's :class:`ModelConfig` (input size, channel order, mean/std, embedding size).
    module: maps (N, 3, H, W) float32, already standardised, to (N, D) embeddings.
    device: torch device string ("cpu", "cuda", "cuda:0", ...); the module is moved there.
    batch_size: crops per forward pass.
    threads: torch CPU threads while embedding (the previous setting is restored after);
        None: leave torch's setting alone.

    :meth:`embed_faces` runs the module in eval mode under ``torch.inference_mode`` and restores
    the module's previous train/eval mode afterwards, so a training loop can call it mid-epoch.
    """

    def __init__(self, config: ModelConfig, module: Any, device: str = "cpu", batch_size: int = 32,
                 threads: int | None = None) -> None:
        import torch

        if not isinstance(module, torch.nn.Module):
            raise ValueError(f"The 'module' parameter must be a torch.nn.Module. Got {type(module).__name__} instead.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"The 'batch_size' parameter must be an int in [1, inf). Got {batch_size!r} instead.")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"The 'threads' parameter must be an int in [1, inf) or None. Got {threads!r} instead.")
        if config.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"The 'channel_order' of {config.name} must be 'RGB' or 'BGR'. Got {config.channel_order!r} instead.")
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"The 'device' parameter must be a torch device string. Got {device!r} instead.") from exc
        self.config = config
        self.batch_size = batch_size
        self.threads = threads
        self.module = module.to(self.device)
        self._mean = torch.tensor(config.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._inv_std = 1.0 / torch.tensor(config.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    @property
    def embedding_size(self) -> int:
        return self.config.embedding_size

    @property
    def input_size(self) -> tuple[int, int]:
        return self.config.input_size

    def preprocess(self, crops: np.ndarray) -> Any:
        """(N, H, W, 3) uint8 RGB → (N, 3, H, W) float32 ``torch.Tensor`` on ``device``, standardised
        as ``(pixel - mean) / std`` in the network's channel order."""
        import torch

        x = np.asarray(crops)
        if self.config.channel_order == "BGR":
            x = x[..., ::-1]
        t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        t = t.permute(0, 3, 1, 2).to(torch.float32)
        return ((t - self._mean) * self._inv_std).contiguous()

    def embed_faces(self, crops: np.ndarray, flip: bool = False) -> np.ndarray:
        """Embeddings of aligned crops.

        crops: (N, H, W, 3) uint8 RGB at ``config.input_size``.
        flip: also embed the mirrored crops, add the two vectors and re-normalise (flip TTA).
        Returns (N, D) float32, L2-normalised (N may be 0).
        """
        import torch

        crops = np.asarray(crops)
        h, w = self.config.input_size
        if crops.ndim != 4 or crops.shape[1:] != (h, w, 3) or crops.dtype != np.uint8:
            raise ValueError(
                f"{self.config.name} takes aligned crops of shape (N, {h}, {w}, 3) uint8. Got {crops.dtype} {crops.shape} instead."
            )
        n = len(crops)
        out = np.zeros((n, self.embedding_size), np.float32)
        if n == 0:
            return out
        if flip:
            crops = np.concatenate([crops, crops[:, :, ::-1]], axis=0)
        was_training = self.module.training
        old_threads = torch.get_num_threads()
        self.module.eval()
        try:
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            with torch.inference_mode():
                raw = np.concatenate([
                    self.module(self.preprocess(crops[i : i + self.batch_size])).float().cpu().numpy().reshape(
                        min(self.batch_size, len(crops) - i), -1)
                    for i in range(0, len(crops), self.batch_size)
                ])
        finally:
            self.module.train(was_training)
            if self.threads is not None:
                torch.set_num_threads(old_threads)
        if raw.shape[1] != self.embedding_size:
            raise ValueError(f"{self.config.name} produced {raw.shape[1]}-D embeddings; its config says {self.embedding_size}.")
        if flip:
            raw = _l2n(raw[:n]) + _l2n(raw[n:])
        return _l2n(raw)


def _l2n(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.float32, copy=False)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
