"""Registry of online triplet miners: ``create_miner(name, **kw) -> Miner``, ``list_miners()``.

The trainer hands every miner the same options (``margin``, ``seed``); each builder takes the
ones it uses and the registry drops the rest (:meth:`facenet.registry.Registry.build`), so no
caller needs to know which miner takes which argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from facenet.mining.base import Triplets
from facenet.registry import Entry, Registry

#: Options any miner builder may be handed (dropped by those that do not use them).
SHARED_OPTIONS = ("margin", "seed")


class Miner(Protocol):
    """``miner(embeddings (B, D), labels (B,)) -> Triplets`` (indices into the batch)."""

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets: ...


@dataclass(frozen=True)
class MinerConfig:
    """name: registry name; description: what it picks."""

    name: str
    description: str


def _semihard(config: MinerConfig, margin: float = 0.2, fallback: str = "skip", seed: int | None = None) -> Miner:
    from facenet.mining.semihard import SemiHardMiner

    return SemiHardMiner(margin=margin, fallback=fallback, seed=seed)


def _batch_hard(config: MinerConfig) -> Miner:
    from facenet.mining.batch_hard import BatchHardMiner

    return BatchHardMiner()


def _batch_all(config: MinerConfig, margin: float = 0.2, only_active: bool = True) -> Miner:
    from facenet.mining.batch_all import BatchAllMiner

    return BatchAllMiner(margin=margin, only_active=only_active)


def _entries() -> tuple[Entry[MinerConfig], ...]:
    here = "facenet.mining.registry"
    return (
        Entry("semihard", MinerConfig("semihard", "every anchor-positive pair, a random negative with "
                                      "d(a,p) < d(a,n) < d(a,p) + margin (FaceNet)"), f"{here}:_semihard"),
        Entry("batch_hard", MinerConfig("batch_hard", "per anchor the farthest positive and the nearest "
                                        "negative (Hermans et al. 2017)"), f"{here}:_batch_hard"),
        Entry("batch_all", MinerConfig("batch_all", "every valid triplet with a positive loss"), f"{here}:_batch_all"),
    )


def miners() -> Registry[MinerConfig, Miner]:
    return Registry("miner", _entries, shared=SHARED_OPTIONS)


def list_miners() -> list[str]:
    """Registered miner names, sorted."""
    return miners().names()


def create_miner(name: str = "semihard", **kwargs: Any) -> Miner:
    """Build the miner ``name`` (case-insensitive), e.g. ``create_miner("semihard", margin=0.2, seed=0)``.
    ``margin`` and ``seed`` are accepted by every miner (ignored where unused); any other option
    must be one the miner takes. Raises :class:`facenet.errors.UnknownModelError` naming close
    matches."""
    return miners().build(name, **kwargs)
