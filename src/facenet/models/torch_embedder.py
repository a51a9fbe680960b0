"""Run a PyTorch face-embedding network on aligned crops, with the same interface as OnnxEmbedder."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from facenet.models.base import Embedder
from facenet.models.config import ModelConfig


class TorchEmbedder(Embedder):
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

    def _session(self) -> Any:
        return _eval_session(self.module, self.threads)

    def _forward(self, crops: np.ndarray) -> np.ndarray:
        return self.module(self.preprocess(crops)).float().cpu().numpy()


@contextmanager
def _eval_session(module: Any, threads: int | None) -> Iterator[None]:
    """Eval mode, inference mode and (optionally) a thread count, all restored afterwards."""
    import torch

    was_training, old_threads = module.training, torch.get_num_threads()
    module.eval()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.inference_mode():
            yield
    finally:
        module.train(was_training)
        if threads is not None:
            torch.set_num_threads(old_threads)
