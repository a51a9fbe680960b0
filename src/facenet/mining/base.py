"""Shared pieces of the online triplet miners: the :class:`Triplets` container, the pairwise
squared-distance matrix, the label masks and argument validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from facenet.validation import check_scalar


@dataclass(frozen=True, eq=False)
class Triplets:
    """Index triplets into a batch of embeddings.

    anchors, positives, negatives: (T,) int64 tensors on one device; ``labels[anchors[t]] ==
    labels[positives[t]] != labels[negatives[t]]`` and ``anchors[t] != positives[t]``.
    """

    anchors: torch.Tensor
    positives: torch.Tensor
    negatives: torch.Tensor

    def __post_init__(self) -> None:
        parts = {"anchors": self.anchors, "positives": self.positives, "negatives": self.negatives}
        for name, t in parts.items():
            if not isinstance(t, torch.Tensor) or t.ndim != 1 or t.dtype != torch.int64:
                got = f"{type(t).__name__} {tuple(t.shape)} {t.dtype}" if isinstance(t, torch.Tensor) else repr(t)
                raise ValueError(f"The '{name}' parameter of Triplets must be a (T,) int64 tensor. Got {got} instead.")
        if not (len(self.anchors) == len(self.positives) == len(self.negatives)):
            raise ValueError(
                "The 'anchors', 'positives' and 'negatives' parameters of Triplets must have the same length. "
                f"Got {len(self.anchors)}, {len(self.positives)} and {len(self.negatives)} instead."
            )
        if not (self.anchors.device == self.positives.device == self.negatives.device):
            raise ValueError("The index tensors of Triplets must be on one device.")

    def __len__(self) -> int:
        return int(self.anchors.shape[0])

    @classmethod
    def empty(cls, device: torch.device | str = "cpu") -> Triplets:
        """Zero triplets on ``device``."""
        z = torch.empty(0, dtype=torch.int64, device=device)
        return cls(z, z.clone(), z.clone())

    @property
    def device(self) -> torch.device:
        return self.anchors.device

    def to(self, device: torch.device | str) -> Triplets:
        """The same triplets on ``device``."""
        return Triplets(self.anchors.to(device), self.positives.to(device), self.negatives.to(device))

    def as_tuple(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(anchors, positives, negatives), e.g. for pytorch-metric-learning's ``indices_tuple``."""
        return self.anchors, self.positives, self.negatives


def pairwise_squared_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """All-pairs squared L2 distances.

    embeddings: (B, D) float tensor. Returns (B, B) tensor of the same dtype, clamped to >= 0,
    with an exact zero diagonal (computed as ``|x|^2 + |y|^2 - 2 x.y``, so O(B^2) memory).
    """
    sq = (embeddings * embeddings).sum(1)
    d = sq[:, None] + sq[None, :] - 2.0 * (embeddings @ embeddings.T)
    d = d.clamp_min(0.0)
    d.fill_diagonal_(0.0)
    return d


def label_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) masks of a batch.

    labels: (B,) integer tensor. Returns two (B, B) bool tensors: ``positive[a, p]`` is True
    when a != p and the labels are equal; ``negative[a, n]`` when the labels differ.
    """
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def check_embeddings(embeddings: Any, owner: str) -> torch.Tensor:
    """``embeddings`` must be a (B, D) floating-point tensor (facenet.validation checks scalars,
    not tensors); returns it unchanged."""
    if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 2 or not embeddings.is_floating_point():
        got = (f"a {embeddings.dtype} tensor of shape {tuple(embeddings.shape)}" if isinstance(embeddings, torch.Tensor)
               else repr(type(embeddings).__name__))
        raise ValueError(f"The 'embeddings' parameter of {owner} must be a (B, D) float tensor. Got {got} instead.")
    return embeddings


def check_batch(embeddings: Any, labels: Any, owner: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a (embeddings (B, D) float tensor, labels (B,) integers) batch.

    Returns the embeddings detached and the labels as a (B,) int64 tensor on the embeddings' device.
    """
    check_embeddings(embeddings, owner)
    try:
        lab = torch.as_tensor(labels, device=embeddings.device)
    except (TypeError, ValueError, RuntimeError):
        lab = None
    if lab is None or lab.ndim != 1 or lab.is_floating_point() or lab.is_complex() or lab.dtype == torch.bool:
        raise ValueError(f"The 'labels' parameter of {owner} must be a (B,) integer tensor or sequence. Got {labels!r} instead.")
    if len(lab) != len(embeddings):
        raise ValueError(
            f"The 'labels' parameter of {owner} must have one label per embedding. "
            f"Got {len(lab)} labels for {len(embeddings)} embeddings instead."
        )
    return embeddings.detach(), lab.to(torch.int64)


def check_margin(margin: Any, owner: str) -> float:
    """Validate a margin: a finite real number >= 0 (bools refused). Returns it as a float."""
    # max_val=inf with include="left" refuses +inf too (with no upper bound check_scalar lets inf
    # through although its message reads "[0, inf)"); the message is the same.
    return check_scalar(margin, "margin", float, min_val=0.0, max_val=float("inf"), include="left", owner=owner)
