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
    """Registered embedder names, sorted: the built-in ones and the models registered in the user
    folder (:mod:`facenet.models.user_models`, ``facenet export --register NAME``)."""
    return sorted({**_user(), **_configs()})


def builtin_models() -> list[str]:
    """The names that ship with the package, sorted."""
    return sorted(_configs())


def model_config(name: str) -> ModelConfig:
    """The :class:`ModelConfig` of a registered model (preprocessing, size, weights, threshold)."""
    from facenet.models.export import config_from_onnx

    entry = _lookup(name)
    return config_from_onnx(entry) if not isinstance(entry, tuple) else entry[0]


def create_model(name: str = "sface", pretrained: bool | None = None, **kwargs: Any) -> Any:
    """Build the embedder ``name``. ``kwargs`` go to the model (e.g. ``backend``, ``threads``).

    pretrained: load the shipped weights (True) or initialise at random (False); None (default):
    True when the model ships weights (``model_config(name).weights``), else False, so that
    ``create_model("nn2")`` gives an untrained network and ``create_model("sface")`` SFace.
    """
    if isinstance(name, str) and name.lower().endswith(".onnx"):
        return _from_onnx_file(name, **kwargs)
    entry = _lookup(name)
    if not isinstance(entry, tuple):  # a user-registered ONNX file
        if pretrained is False:
            raise ValueError(f"{name!r} is a registered trained model (an ONNX file); it has no untrained form.")
        return _from_onnx_file(str(entry), **kwargs)
    cfg, build = entry
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


def _user() -> dict[str, Any]:
    from facenet.models.user_models import user_models

    return user_models()


def _lookup(name: str) -> Any:
    """(config, build) of a built-in model, or the Path of a user-registered ONNX file."""
    return lookup("model", name, {**_user(), **_configs()})
