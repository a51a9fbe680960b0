"""Registry of embedding models: ``create_model(name, pretrained=...) -> Embedder``, ``list_models()``.

Built-in entries are listed below (an immutable tuple, no import-time registration); names read
``architecture[.weights]`` as in timm, so an architecture and its pretrained weights are one
family (``inception-resnet-v1`` untrained, ``inception-resnet-v1.casia`` its CASIA-WebFace
weights). Models registered with ``facenet export --register NAME`` join from the user model
folder, and a path ending in ``.onnx`` names an exported file directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facenet.models.base import Embedder
from facenet.models.config import ModelConfig
from facenet.registry import Entry, Registry
from facenet.settings import Settings

#: Options any embedder builder may be handed; a builder that does not take one ignores it
#: (``backend`` means nothing to a PyTorch model, ``device`` nothing to OpenCV).
SHARED_OPTIONS = ("backend", "threads", "batch_size", "device", "cache_dir")


def _builtin() -> tuple[Entry[ModelConfig], ...]:
    from facenet.models import facenet_irv1, fused, sface, torch_models

    entries = [Entry(sface.SFACE.name, sface.SFACE, "facenet.models.sface:build")]
    entries += [Entry(c.name, c, "facenet.models.torch_models:build") for c in torch_models.CONFIGS]
    entries += [Entry(facenet_irv1.FACENET_CASIA.name, facenet_irv1.FACENET_CASIA, "facenet.models.facenet_irv1:build",
                      aliases=("facenet-casia-irv1",)),
                Entry(facenet_irv1.INCEPTION_RESNET_V1.name, facenet_irv1.INCEPTION_RESNET_V1,
                      "facenet.models.facenet_irv1:build")]
    entries += [Entry(fused.FUSED.name, fused.FUSED, "facenet.models.fused:build")]
    from facenet.models import fused_casia  # research use only (CASIA-WebFace weights): not a preset

    entries += [Entry(fused_casia.FUSED_CASIA.name, fused_casia.FUSED_CASIA, "facenet.models.fused_casia:build")]
    return tuple(entries)


def _onnx_entry(path: Path, name: str | None = None) -> Entry[ModelConfig]:
    from facenet.models.onnx_meta import config_from_onnx

    cfg = config_from_onnx(path)
    return Entry(name or cfg.name, cfg, "facenet.models.onnx_file:build_onnx_file", bound=(("path", Path(path)),))


def models(settings: Settings | None = None) -> Registry[ModelConfig, Embedder]:
    """The model registry: built-ins plus the models registered in ``settings.models_dir``
    (default :meth:`Settings.from_env`)."""
    s = settings if settings is not None else Settings.from_env()

    def user() -> dict[str, Any]:
        from facenet.models.user_models import user_models

        return {n: (lambda p=p, n=n: _onnx_entry(p, n)) for n, p in user_models(s.models_dir).items()}

    return Registry("model", _builtin, extra=user, shared=SHARED_OPTIONS)


def list_models(settings: Settings | None = None) -> list[str]:
    """Registered embedder names, sorted: the built-in ones and the user-registered ones."""
    return models(settings).names()


def builtin_models() -> list[str]:
    """The names that ship with the package, sorted (aliases excluded)."""
    return sorted(e.name for e in _builtin())


def model_config(name: str, settings: Settings | None = None) -> ModelConfig:
    """The :class:`ModelConfig` of a registered model or an exported ``.onnx`` file
    (preprocessing, embedding size, weights, calibrated threshold)."""
    if _is_onnx_path(name):
        return _onnx_entry(Path(name)).config
    return models(settings).config(name)


def create_model(name: str = "sface", pretrained: bool | None = None, settings: Settings | None = None,
                 **kwargs: Any) -> Embedder:
    """Build the embedder ``name`` (a registered name or a path to an exported ``.onnx`` file).

    pretrained: load the shipped weights (True) or initialise at random (False); None (default):
        True when the model ships weights, so ``create_model("nn2")`` gives an untrained network
        and ``create_model("sface")`` SFace.
    settings: where user models and caches live (default :meth:`Settings.from_env`).
    kwargs: model options (``backend``, ``threads``, ``batch_size``, ``device``, ``embedding_size``,
        ``dropout``, ...), filtered in one place (:meth:`facenet.registry.Registry.build`): an
        option another kind of model takes is ignored, an unknown one refused.
    """
    s = settings if settings is not None else Settings.from_env()
    reg = models(s)
    entry = _onnx_entry(Path(name)) if _is_onnx_path(name) else reg.entry(name)
    kwargs.setdefault("cache_dir", s.cache_dir)
    if entry.bound:  # an exported ONNX file: trained weights only
        if pretrained is False:
            raise ValueError(f"{name!r} is a trained model (an ONNX file); it has no untrained form.")
        return reg.build_entry(entry, **kwargs)
    if pretrained is None:
        pretrained = entry.config.weights is not None
    return reg.build_entry(entry, pretrained=pretrained, **kwargs)


def _is_onnx_path(name: object) -> bool:
    return isinstance(name, (str, Path)) and str(name).lower().endswith(".onnx")
