"""Registry of face detectors: ``create_detector(name) -> Detector``, ``list_detectors()``.

Entries are data (:mod:`facenet.detect.catalog`); a detector's module (and torch, for MTCNN) is
imported only when that detector is built.
"""

from __future__ import annotations

from typing import Any

from facenet.detect import catalog
from facenet.detect.types import Detector, DetectorConfig
from facenet.registry import Entry, Registry

#: Options any detector builder may be handed (dropped by those that do not take them).
SHARED_OPTIONS = ("device", "threads")


def _entries() -> tuple[Entry[DetectorConfig], ...]:
    return (
        Entry("yunet", catalog.YUNET, "facenet.detect.yunet:build"),
        Entry("mtcnn", catalog.MTCNN, "facenet.detect.mtcnn:build"),
    )


def detectors() -> Registry[DetectorConfig, Detector]:
    """The detector registry (a fresh, stateless view of the catalog)."""
    return Registry("detector", _entries, shared=SHARED_OPTIONS)


def list_detectors() -> list[str]:
    """Registered detector names, sorted."""
    return detectors().names()


def detector_config(name: str) -> DetectorConfig:
    """The :class:`DetectorConfig` of a registered detector (UnknownModelError naming close names)."""
    return detectors().config(name)


def create_detector(name: str = "yunet", **kwargs: Any) -> Detector:
    """Build the detector ``name``; ``kwargs`` override its defaults (e.g. ``score_threshold``)."""
    return detectors().build(name, **kwargs)
