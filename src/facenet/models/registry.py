"""Registry of embedding models: ``create_model(name, pretrained=True)``, ``list_models()``.

Model modules are listed explicitly below (an immutable tuple, no import-time registration).
Each one exposes ``CONFIGS`` (a tuple of :class:`ModelConfig`) and ``build(config, pretrained, **kw)``.
"""

from __future__ import annotations

import importlib
from typing import Any

from facenet.errors import lookup
from facenet.models.config import ModelConfig

MODEL_MODULES = ("facenet.models.sface", "facenet.models.torch_models", "facenet.models.facenet_irv1")


def _configs() -> dict[str, tuple[ModelConfig, Any]]:
    out: dict[str, tuple[ModelConfig, Any]] = {}
    for mod_name in MODEL_MODULES:
        mod = importlib.import_module(mod_name)
        for cfg in mod.CONFIGS:
            out[cfg.name] = (cfg, mod.build)
    return out


def list_models() -> list[str]:
    """Registered embedder names, sorted."""
    return sorted(_configs())


def model_config(name: str) -> ModelConfig:
    """The :class:`ModelConfig` of a registered model (preprocessing, size, weights, threshold)."""
    return _lookup(name)[0]


def create_model(name: str = "sface", pretrained: bool | None = None, **kwargs: Any) -> Any:
    """Build the embedder ``name``. ``kwargs`` go to the model (e.g. ``backend``, ``threads``).

    pretrained: load the shipped weights (True) or initialise at random (False); None (default):
    True when the model ships weights (``model_config(name).weights``), else False, so that
    ``create_model("nn2")`` gives an untrained network and ``create_model("sface")`` SFace.
    """
    if isinstance(name, str) and name.lower().endswith(".onnx"):
        return _from_onnx_file(name, **kwargs)
    cfg, build = _lookup(name)
    if pretrained is None:
        pretrained = cfg.weights is not None
    return build(cfg, pretrained=pretrained, **kwargs)


def _from_onnx_file(path: str, **kwargs: Any) -> Any:
    """An embedder exported by ``facenet export`` (its preprocessing config is in the file)."""
    from pathlib import Path

    from facenet.errors import WeightsError
    from facenet.models.embedder import OnnxEmbedder
    from facenet.models.export import config_from_onnx

    if not Path(path).is_file():
        raise WeightsError(f"ONNX model {path} does not exist.")
    kwargs.pop("embedding_size", None)
    kwargs.pop("device", None)
    return OnnxEmbedder(config_from_onnx(path), Path(path), input_name="data", **kwargs)


def _lookup(name: str) -> tuple[ModelConfig, Any]:
    return lookup("model", name, _configs())
