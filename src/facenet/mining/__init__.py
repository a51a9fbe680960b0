"""Online triplet miners: ``create_miner(name, **kw) -> Miner``, ``list_miners()``.

Every miner is called as ``miner(embeddings (B, D), labels (B,)) -> Triplets`` under
``torch.no_grad()``; feed the triplets to :class:`facenet.losses.TripletLoss`.
"""

from __future__ import annotations

from facenet.mining.base import Triplets, pairwise_squared_distances
from facenet.mining.batch_all import BatchAllMiner
from facenet.mining.batch_hard import BatchHardMiner
from facenet.mining.registry import Miner, MinerConfig, create_miner, list_miners
from facenet.mining.semihard import SemiHardMiner, semihard_candidates

__all__ = [
    "BatchAllMiner",
    "BatchHardMiner",
    "Miner",
    "MinerConfig",
    "SemiHardMiner",
    "Triplets",
    "create_miner",
    "list_miners",
    "pairwise_squared_distances",
    "semihard_candidates",
]
