"""Registry of face detectors: ``create_detector(name)``, ``list_detectors()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from facenet.errors import lookup
from facenet.weights import WeightFile


@dataclass(frozen=True)
class DetectorConfig:
    """What a detector is and where its weights come from.

    name: registry name. description: one line. weights: the files it loads (SHA-256 checked).
    licence: the licence of the weights. defaults: keyword arguments the factory uses.
    retry: overrides for a second, more permissive pass when the first finds nothing.
    """

    name: str
    description: str
    weights: tuple[WeightFile, ...]
    licence: str
    defaults: dict[str, Any] = field(default_factory=dict)
    #: Overrides for a second, more permissive pass when the first finds no face (empty: none).
    retry: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Entry:
    config: DetectorConfig
    factory: Callable[..., Any]


def _entries() -> dict[str, _Entry]:
    # Built on demand from the modules that define detectors: no import-time registration state.
    from facenet.detect import mtcnn, yunet

    entries = {}
    for module in (yunet, mtcnn):
        config: DetectorConfig = module.CONFIG
        entries[config.name] = _Entry(config, module.build)
    return entries


def list_detectors() -> list[str]:
    """Registered detector names, sorted."""
    return sorted(_entries())


def detector_config(name: str) -> DetectorConfig:
    return _lookup(name).config


def create_detector(name: str = "yunet", **kwargs: Any) -> Any:
    """Build the detector ``name``; ``kwargs`` override its defaults (e.g. ``score_threshold``)."""
    entry = _lookup(name)
    return entry.factory(**{**entry.config.defaults, **kwargs})


def _lookup(name: str) -> _Entry:
    return lookup("detector", name, _entries())
