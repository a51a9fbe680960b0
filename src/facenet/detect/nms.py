"""Box overlap (IoU) and greedy non-maximum suppression, vectorised with numpy.

Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates: a box's width is ``x2 - x1``
and its area ``(x2 - x1) * (y2 - y1)``. The ``+1`` "inclusive pixel" convention of the original
MTCNN code is *not* used; for boxes of MTCNN's sizes (12 px and up) the two differ by a few
percent of IoU at most. Boxes with ``x2 < x1`` or ``y2 < y1`` count as empty (area 0), and any
overlap ratio whose denominator is 0 is defined as 0 (never ``nan``).
"""

from __future__ import annotations

import numpy as np

_MODES = ("union", "min")


def _as_boxes(boxes: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"'{name}' must be an (N, 4) array of x1, y1, x2, y2. Got shape {arr.shape} instead.")
    return arr


def _areas(boxes: np.ndarray) -> np.ndarray:
    """(N,) areas of (N, 4) boxes; inverted boxes have area 0."""
    wh = np.clip(boxes[:, 2:4] - boxes[:, 0:2], 0.0, None)
    return wh[:, 0] * wh[:, 1]


def _check_mode(mode: str) -> None:
    if mode not in _MODES:
        raise ValueError(f"The 'mode' parameter must be one of 'union', 'min'. Got {mode!r} instead.")


def _ratio(inter: np.ndarray, denom: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast(inter, denom).shape, dtype=np.float64)
    np.divide(inter, denom, out=out, where=denom > 0)
    return out


def iou(boxes_a: np.ndarray, boxes_b: np.ndarray, mode: str = "union") -> np.ndarray:
    """Pairwise overlap of two box sets.

    boxes_a: (N, 4); boxes_b: (M, 4). Returns (N, M) float64: intersection over union
    (``mode="union"``) or over the smaller of the two areas (``mode="min"``).
    """
    _check_mode(mode)
    a = _as_boxes(boxes_a, "boxes_a")
    b = _as_boxes(boxes_b, "boxes_b")
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    lt = np.maximum(a[:, None, 0:2], b[None, :, 0:2])  # (N, M, 2)
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    wh = np.clip(rb - lt, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a, area_b = _areas(a), _areas(b)
    if mode == "min":
        denom = np.minimum(area_a[:, None], area_b[None, :])
    else:
        denom = area_a[:, None] + area_b[None, :] - inter
    return _ratio(inter, denom)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression.

    boxes: (N, 4); scores: (N,). Repeatedly keeps the highest-scoring remaining box and drops
    every remaining box whose overlap with it (see :func:`iou` for ``mode``) is strictly greater
    than ``iou_threshold``. Equal scores are taken in index order.

    Returns the (K,) int64 indices of the kept boxes, highest score first (empty for N = 0).
    """
    _check_mode(mode)
    b = _as_boxes(boxes, "boxes")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) != len(b):
        raise ValueError(f"nms got {len(b)} boxes but {len(s)} scores.")
    if len(b) == 0:
        return np.zeros((0,), dtype=np.int64)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = _areas(b)
    order = np.argsort(-s, kind="stable")
    keep = []
    # One iteration per *kept* box; each compares it with all remaining boxes at once.
    while order.size > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0.0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0.0, None)
        inter = w * h
        if mode == "min":
            denom = np.minimum(area[i], area[rest])
        else:
            denom = area[i] + area[rest] - inter
        order = rest[_ratio(inter, denom) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, iou_threshold: float, mode: str = "union"
) -> np.ndarray:
    """:func:`nms` run independently within each group (e.g. each image of a batch).

    boxes: (N, 4); scores: (N,); groups: (N,) integer labels. Boxes of different groups never
    suppress each other. Returns (K,) int64 indices into the inputs, highest score first.
    """
    b = _as_boxes(boxes, "boxes")
    g = np.asarray(groups).reshape(-1)
    if len(g) != len(b):
        raise ValueError(f"batched_nms got {len(b)} boxes but {len(g)} group labels.")
    if len(b) == 0:
        return np.zeros((0,), dtype=np.int64)
    # One exact nms() per group (no coordinate-offset trick, whose rounding can flip IoUs that
    # sit exactly on the threshold), then merge by score.
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) != len(b):
        raise ValueError(f"batched_nms got {len(b)} boxes but {len(s)} scores.")
    labels, codes = np.unique(g, return_inverse=True)
    if len(labels) == 1:
        return nms(b, s, iou_threshold, mode)
    members = np.argsort(codes.reshape(-1), kind="stable")
    bounds = np.searchsorted(codes.reshape(-1)[members], np.arange(len(labels) + 1))
    keep = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # one iteration per group (e.g. per image)
        idx = members[lo:hi]
        keep.append(idx[nms(b[idx], s[idx], iou_threshold, mode)])
    kept = np.concatenate(keep)
    return kept[np.argsort(-s[kept], kind="stable")].astype(np.int64)
