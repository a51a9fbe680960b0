"""Online triplet miners: ``create_miner(name, **kw)``, ``list_miners()``.

Every miner is called as ``miner(embeddings (B, D), labels (B,)) -> Triplets`` under
``torch.no_grad()``; feed the triplets to :class:`facenet.losses.TripletLoss`.
"""

from __future__ import annotations

from typing import Any, Callable

from facenet.errors import lookup
from facenet.mining.base import Triplets, pairwise_squared_distances
from facenet.mining.batch_all import BatchAllMiner
from facenet.mining.batch_hard import BatchHardMiner
from facenet.mining.semihard import SemiHardMiner, semihard_candidates

Miner = Callable[..., Triplets]

__all__ = [
    "BatchAllMiner",
    "BatchHardMiner",
    "Miner",
    "SemiHardMiner",
    "Triplets",
    "create_miner",
    "list_miners",
    "pairwise_squared_distances",
    "semihard_candidates",
]


def _miners() -> dict[str, type]:
    return {"semihard": SemiHardMiner, "batch_hard": BatchHardMiner, "batch_all": BatchAllMiner}


def list_miners() -> list[str]:
    """Registered miner names, sorted."""
    return sorted(_miners())


def create_miner(name: str = "semihard", **kwargs: Any) -> Miner:
    """Build the miner ``name`` (case-insensitive); ``kwargs`` go to its constructor,
    e.g. ``create_miner("semihard", margin=0.2, seed=0)``.

    Raises :class:`facenet.errors.UnknownModelError` (a KeyError) naming close matches.
    """
    return lookup("miner", name, _miners())(**kwargs)
