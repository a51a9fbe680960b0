"""Small labelled sets shared by the clustering tests."""

from __future__ import annotations

import numpy as np


def people(rng: int | np.random.Generator = 0, n_people: int = 4, per: int = 6, spread: float = 0.12,
           dim: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings (n_people * per, dim) float32 unit norm, person of each) around random centres."""
    rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
    centres = rng.normal(size=(n_people, dim))
    x = np.repeat(centres, per, axis=0) + spread * rng.normal(size=(n_people * per, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat(np.arange(n_people), per)


def same_partition(a, b) -> bool:
    """Whether two labelings group the items the same way (label values aside)."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :]))
