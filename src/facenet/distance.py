"""Distances between L2-normalised embeddings and the verification decision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def squared_l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise squared L2 distance. a, b: (N, D) (or (D,)). Returns (N,) float32 in [0, 4]
    for unit vectors (0: identical, 2: orthogonal, 4: opposite)."""
    a = np.atleast_2d(np.asarray(a, np.float32))
    b = np.atleast_2d(np.asarray(b, np.float32))
    if a.shape != b.shape:
        raise ValueError(f"squared_l2 needs two arrays of equal shape. Got {a.shape} and {b.shape}.")
    return np.clip(((a - b) ** 2).sum(1), 0.0, 4.0).astype(np.float32)


def pairwise_squared_l2(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """All-pairs squared L2. a: (N, D), b: (M, D) (default a). Returns (N, M) float32."""
    a = np.atleast_2d(np.asarray(a, np.float32))
    b = a if b is None else np.atleast_2d(np.asarray(b, np.float32))
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.clip(d, 0.0, 4.0).astype(np.float32)


@dataclass(frozen=True)
class Verification:
    """The answer to "same person?": ``same`` is ``distance < threshold``."""

    distance: float
    threshold: float
    same: bool

    def to_dict(self) -> dict:
        return {"distance": round(self.distance, 6), "threshold": self.threshold, "same": self.same}
