"""Scores of a clustering against true identity labels.

Every function takes ``labels_true`` and ``labels_pred``: (N,) arrays of any hashable labels
(ints or strings). A predicted ``-1`` (unclustered: noise, or a cluster smaller than ``min_size``)
counts as a **singleton cluster of its own** in every metric: an unclustered face claims nothing
about who it is, so it is neither merged with the other unclustered faces nor dropped (dropping
items would flatter every score). True labels are taken as given (no -1 rule there).

Definitions followed:

* pairwise precision / recall / F1: over the N(N-1)/2 unordered pairs of items, a pair is
  predicted positive when both items share a predicted cluster, truly positive when they share a
  true label (the "pairwise F-measure" of e.g. Otto, Wang & Jain, *Clustering millions of faces
  by identity*, TPAMI 2018, whose rank-order baseline reports F = 0.87 on LFW). Precision is 1.0
  when no pair is predicted together (nothing was merged wrongly), recall 1.0 when no two items
  share a true label.
* BCubed precision / recall / F: Amigó, Gonzalo, Artiles & Verdejo, *A comparison of extrinsic
  clustering evaluation metrics based on formal constraints*, Information Retrieval 12 (2009):
  per item i, precision = |C(i) ∩ L(i)| / |C(i)| and recall = |C(i) ∩ L(i)| / |L(i)| (C(i): its
  predicted cluster, L(i): its true class, both including i), each averaged over all items;
  F is their harmonic mean (alpha = 0.5).
* NMI: scikit-learn's ``normalized_mutual_info_score`` (arithmetic-mean normalisation).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _codes(labels: Any, name: str) -> np.ndarray:
    a = np.asarray(labels)
    if a.ndim != 1:
        raise ValueError(f"The {name!r} parameter must be a 1-D array of labels. Got shape {a.shape} instead.")
    return np.unique(a, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _pair(labels_true: Any, labels_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of both labelings; every predicted -1 becomes its own singleton cluster."""
    t = _codes(labels_true, "labels_true")
    p_raw = np.asarray(labels_pred)
    p = _codes(p_raw, "labels_pred")
    if len(t) != len(p):
        raise ValueError(f"labels_true and labels_pred must have the same length. Got {len(t)} and {len(p)} instead.")
    if p_raw.dtype.kind in "iu":
        noise = p_raw == -1
        if noise.any():
            p = p.copy()
            p[noise] = p.max() + 1 + np.arange(int(noise.sum()))
            p = np.unique(p, return_inverse=True)[1].reshape(-1).astype(np.int64)
    return t, p


def _cells(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(count of each non-empty (pred, true) cell, its pred-cluster size, its true-class size)."""
    m = int(t.max()) + 1
    cell_key, n_cell = np.unique(p * m + t, return_counts=True)
    size_p = np.bincount(p)[cell_key // m]
    size_t = np.bincount(t)[cell_key % m]
    return n_cell.astype(np.float64), size_p.astype(np.float64), size_t.astype(np.float64)


def _f(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2.0 * p * r / (p + r)


def pairwise_prf(labels_true: Any, labels_pred: Any) -> tuple[float, float, float]:
    """Pairwise (precision, recall, F1) over all unordered pairs of items (module docstring)."""
    t, p = _pair(labels_true, labels_pred)
    if len(t) == 0:
        return 1.0, 1.0, 1.0
    n_cell, _, _ = _cells(t, p)
    both = float(np.sum(n_cell * (n_cell - 1) / 2))
    pred = float(np.sum((c := np.bincount(p).astype(np.float64)) * (c - 1) / 2))
    true = float(np.sum((c := np.bincount(t).astype(np.float64)) * (c - 1) / 2))
    prec = 1.0 if pred == 0 else both / pred
    rec = 1.0 if true == 0 else both / true
    return prec, rec, _f(prec, rec)


def bcubed_prf(labels_true: Any, labels_pred: Any) -> tuple[float, float, float]:
    """BCubed (precision, recall, F) of Amigó et al. 2009, averaged over items (module docstring)."""
    t, p = _pair(labels_true, labels_pred)
    if len(t) == 0:
        return 1.0, 1.0, 1.0
    n_cell, size_p, size_t = _cells(t, p)
    # each of the n_cell items of a cell has precision n_cell / |C| and recall n_cell / |L|
    prec = float(np.sum(n_cell * n_cell / size_p) / len(t))
    rec = float(np.sum(n_cell * n_cell / size_t) / len(t))
    return prec, rec, _f(prec, rec)


def nmi(labels_true: Any, labels_pred: Any) -> float:
    """Normalised mutual information: scikit-learn's ``normalized_mutual_info_score`` (arithmetic)."""
    from sklearn.metrics import normalized_mutual_info_score

    t, p = _pair(labels_true, labels_pred)
    return float(normalized_mutual_info_score(t, p))


def clustering_scores(labels_true: Any, labels_pred: Any) -> dict[str, float | int]:
    """Every metric at once, plus the number of true classes and of predicted clusters (with
    each -1 a singleton): keys pairwise_precision/recall/f1, bcubed_precision/recall/f, nmi,
    n_true, n_pred."""
    t, p = _pair(labels_true, labels_pred)
    pp, pr, pf = pairwise_prf(labels_true, labels_pred)
    bp, br, bf = bcubed_prf(labels_true, labels_pred)
    return {"pairwise_precision": pp, "pairwise_recall": pr, "pairwise_f1": pf, "bcubed_precision": bp,
            "bcubed_recall": br, "bcubed_f": bf, "nmi": nmi(labels_true, labels_pred),
            "n_true": int(len(np.unique(t))), "n_pred": int(len(np.unique(p)))}
