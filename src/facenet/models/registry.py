"""Registry of embedding models: ``create_model(name, pretrained=True)``, ``list_models()``.

Model modules are listed explicitly below (an immutable tuple, no import-time registration).
Each one exposes ``CONFIGS`` (a tuple of :class:`ModelConfig`) and ``build(config, pretrained, **kw)``.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from facenet.errors import UnknownModelError
from facenet.models.config import ModelConfig

MODEL_MODULES = ("facenet.models.sface",)


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


def create_model(name: str = "sface", pretrained: bool = True, **kwargs: Any) -> Any:
    """Build the embedder ``name``. ``kwargs`` go to the model (e.g. ``backend``, ``threads``)."""
    cfg, build = _lookup(name)
    return build(cfg, pretrained=pretrained, **kwargs)


def _lookup(name: str) -> tuple[ModelConfig, Any]:
    configs = _configs()
    key = name.lower() if isinstance(name, str) else name
    if key not in configs:
        known = sorted(configs)
        close = difflib.get_close_matches(str(name).lower(), known, n=3, cutoff=0.4)
        raise UnknownModelError("model", str(name), known, close)
    return configs[key]
