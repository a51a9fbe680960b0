"""Per-model configuration: everything needed to feed the model and read its output."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Optional

from facenet.weights import WeightFile


@dataclass(frozen=True)
class ModelConfig:
    """An embedder's preprocessing and provenance.

    input_size: (height, width) of the aligned crop it takes.
    channel_order: "RGB" or "BGR", the order the network expects.
    mean, std: per-channel values; the network sees ``(pixel - mean) / std`` with pixels in 0..255.
    embedding_size: length of the output vector (L2-normalised by facenet).
    weights: the weight file (SHA-256 pinned), or None for a model without shipped weights.
    threshold: squared-L2 distance below which two faces are called the same person, calibrated
        on LFW View 1 (see ``threshold_source``); None when not calibrated.
    threshold_flip: the same with flip test-time augmentation (distances shrink a little).
    compatible_with: the models whose embeddings this one's may be compared with (a harmonic
        embedding, trained to share their space), each with the squared-L2 threshold for such a
        mixed pair (one embedding from each model), chosen on LFW View 1 like ``threshold``.
        Given as a dict (``{"sface": 1.3322}``), kept as sorted (name, threshold) pairs. Mixed
        pairs are of plain embeddings (flip off on both sides): the threshold was not measured
        with flip. A gallery made by one of these models accepts this one's queries and faces.
    """

    name: str
    description: str
    input_size: tuple[int, int]
    channel_order: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    embedding_size: int
    weights: Optional[WeightFile]
    licence: str
    threshold: Optional[float] = None
    threshold_flip: Optional[float] = None
    threshold_source: str = ""
    template: str = "arcface_112"
    compatible_with: "tuple[tuple[str, float], ...] | Mapping[str, float]" = ()

    def __post_init__(self) -> None:
        pairs = self.compatible_with
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        object.__setattr__(self, "compatible_with", tuple(sorted((str(k), float(v)) for k, v in items)))

    def mixed_threshold(self, other: str) -> Optional[float]:
        """The declared threshold of a mixed pair with model ``other`` (None: not declared)."""
        return dict(self.compatible_with).get(other)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["weights"] = self.weights.source if self.weights else None
        d["weights_sha256"] = self.weights.sha256 if self.weights else None
        return d

    def verification_threshold(self, flip: bool = False) -> Optional[float]:
        """The calibrated threshold for plain or flip-TTA embeddings (None when uncalibrated)."""
        if flip and self.threshold_flip is not None:
            return self.threshold_flip
        return self.threshold
