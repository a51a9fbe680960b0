"""Registry entries for the PyTorch embedding networks written in this project (no shipped
weights: build them with ``pretrained=False`` and train them with ``facenet train``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from facenet.models.config import ModelConfig
from facenet.models.torch_embedder import TorchEmbedder
from facenet.validation import check_option, check_scalar

#: FaceNet's fixed standardisation: (pixel - 127.5) / 128, pixels in 0..255, RGB.
_MEAN = (127.5, 127.5, 127.5)
_STD = (128.0, 128.0, 128.0)


def _config(name: str, size: int, description: str) -> ModelConfig:
    return ModelConfig(name=name, description=description, input_size=(size, size), channel_order="RGB",
                       mean=_MEAN, std=_STD, embedding_size=128, weights=None, licence="MIT (this project)",
                       threshold=None)


CONFIGS: tuple[ModelConfig, ...] = (
    _config("nn2", 224, "FaceNet NN2 (paper Table 2): Inception with L2 pooling, 224x224, untrained"),
    _config("nn3", 160, "FaceNet NN3: NN2 at 160x160, untrained"),
    _config("nn4", 96, "FaceNet NN4: NN2 at 96x96, untrained"),
    _config("nns1", 165, "FaceNet NNS1 'mini Inception' (our reading of the paper), 165x165, untrained"),
    _config("nns2", 140, "FaceNet NNS2 'tiny Inception' (our reading of the paper), 140x140, untrained"),
    _config("mobilefacenet", 112, "MobileFaceNet (Chen et al. 2018) with GDC head, 112x112, untrained"),
)

#: Registry name -> (module, class name); imported on build only.
_NETS: dict[str, tuple[str, str]] = {
    "nn2": ("facenet.models.nets.inception", "NN2"),
    "nn3": ("facenet.models.nets.inception", "NN3"),
    "nn4": ("facenet.models.nets.inception", "NN4"),
    "nns1": ("facenet.models.nets.inception", "NNS1"),
    "nns2": ("facenet.models.nets.inception", "NNS2"),
    "mobilefacenet": ("facenet.models.nets.mobilefacenet", "MobileFaceNet"),
}

def create_network(config: ModelConfig, dropout: float = 0.0) -> Any:
    """The untrained ``torch.nn.Module`` for ``config`` (its ``embedding_size``)."""
    import importlib

    check_option(config.name, "config.name", sorted(_NETS), owner="create_network")
    module_name, class_name = _NETS[config.name]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(embedding_size=config.embedding_size, dropout=dropout)


def build(config: ModelConfig, pretrained: bool = False, embedding_size: int | None = None, device: str = "cpu",
          batch_size: int = 32, threads: int | None = None, dropout: float = 0.0) -> TorchEmbedder:
    """A :class:`TorchEmbedder` around a freshly initialised network.

    pretrained: must be False: no weights ship for these networks.
    embedding_size: override the config's 128 (the returned embedder's config says so too).
    device: torch device string. batch_size: crops per forward pass. threads: torch CPU threads
    while embedding. dropout: before the embedding layer.
    """
    if pretrained:
        raise ValueError(f"no pretrained weights ship for {config.name}; train one with `facenet train`")
    if embedding_size is not None:
        embedding_size = check_scalar(embedding_size, "embedding_size", int, min_val=1)
        config = dataclasses.replace(config, embedding_size=embedding_size)
    return TorchEmbedder(config, create_network(config, dropout), device=device, batch_size=batch_size, threads=threads)
