"""Run a PyTorch face-embedding network on aligned crops, with the same interface as OnnxEmbedder."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from facenet.models.base import Embedder
from facenet.models.config import ModelConfig
from facenet.validation import check_option, check_scalar, check_type


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

        check_type(module, "module", torch.nn.Module, owner="TorchEmbedder", what="a torch.nn.Module")
        batch_size = check_scalar(batch_size, "batch_size", int, min_val=1, owner="TorchEmbedder")
        threads = check_scalar(threads, "threads", int, min_val=1, owner="TorchEmbedder", allow_none=True)
        check_option(config.channel_order, "channel_order", ("RGB", "BGR"), owner=f"the {config.name} config")
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
