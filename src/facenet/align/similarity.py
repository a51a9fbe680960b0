"""Least-squares similarity transforms (rotation, uniform scale, translation)."""

from __future__ import annotations

import numpy as np


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The similarity transform that best maps ``src`` points onto ``dst`` in least squares.

    Umeyama (1991) closed form, reflections excluded.
    src, dst: (N, 2) float, N >= 2 corresponding points.
    Returns (2, 3) float64 ``M`` with ``dst ≈ src @ M[:, :2].T + M[:, 2]``.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"estimate_similarity needs two (N, 2) arrays with N >= 2 of equal shape. Got {src.shape} and {dst.shape}.")
    n = src.shape[0]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / n
    if var_s <= 1e-12:
        raise ValueError("estimate_similarity: source points are all identical; no transform is defined.")
    cov = d0.T @ s0 / n
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = float((sig * d).sum() / var_s)
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def apply_transform(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine ``m`` to (..., 2) ``points``."""
    pts = np.asarray(points, np.float64)
    return pts @ m[:, :2].T + m[:, 2]
