"""Registry builder for models exported by ``facenet export`` (their config is in the file)."""

from __future__ import annotations

from pathlib import Path

from facenet.models.config import ModelConfig
from facenet.models.embedder import OnnxEmbedder


def build_onnx_file(config: ModelConfig, path: Path, backend: str = "opencv", threads: int | None = None,
                    batch_size: int = 32, cache_dir: Path | None = None) -> OnnxEmbedder:
    """An :class:`OnnxEmbedder` over ``path`` (input ``data``: normalised (N, 3, H, W) float).
    cache_dir: where the prepared graph is cached, keyed by the file's own SHA-256."""
    return OnnxEmbedder(config, Path(path), input_name="data", backend=backend, threads=threads, batch_size=batch_size,
                        cache_dir=cache_dir)
