"""Box overlap (IoU) and greedy non-maximum suppression, vectorised with numpy.

Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates: a box's width is ``x2 - x1``
and its area ``(x2 - x1) * (y2 - y1)``. The ``+1`` "inclusive pixel" convention of the original
MTCNN code is *not* used; for boxes of MTCNN's sizes (12 px and up) the two differ by a few
percent of IoU at most. Boxes with ``x2 < x1`` or ``y2 < y1`` count as empty (area 0), and any
overlap ratio whose denominator is 0 is defined as 0 (never ``nan``).
"""

from __future__ import annotations

import numpy as np

from facenet.validation import check_option, check_scalar

_MODES = ("union", "min")


def _as_boxes(boxes: np.ndarray, name: str, owner: str) -> np.ndarray:
    """(N, 4) float64 boxes (any empty input: (0, 4)); ValueError for another shape."""
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"The {name!r} parameter of {owner} must be an (N, 4) array of x1, y1, x2, y2. "
                         f"Got {type(boxes).__name__} instead.") from None
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"The {name!r} parameter of {owner} must be an (N, 4) array of x1, y1, x2, y2. "
                         f"Got shape {arr.shape} instead.")
    return arr


def _one_per_box(values: np.ndarray, n: int, name: str, owner: str) -> np.ndarray:
    """``values`` flattened, which must hold one entry per box."""
    v = np.asarray(values).reshape(-1)
    if len(v) != n:
        raise ValueError(f"The {name!r} parameter of {owner} must hold one value per box. "
                         f"Got {len(v)} {name} for {n} boxes instead.")
    return v


def _areas(boxes: np.ndarray) -> np.ndarray:
    """(N,) areas of (N, 4) boxes; inverted boxes have area 0."""
    wh = np.clip(boxes[:, 2:4] - boxes[:, 0:2], 0.0, None)
    return wh[:, 0] * wh[:, 1]


def _check_mode(mode: str, owner: str) -> None:
    check_option(mode, "mode", _MODES, owner=owner)


def _check_threshold(iou_threshold: float, owner: str) -> float:
    return check_scalar(iou_threshold, "iou_threshold", float, min_val=0.0, max_val=1.0, owner=owner)


def _ratio(inter: np.ndarray, denom: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast(inter, denom).shape, dtype=np.float64)
    np.divide(inter, denom, out=out, where=denom > 0)
    return out


def iou(boxes_a: np.ndarray, boxes_b: np.ndarray, mode: str = "union") -> np.ndarray:
    """Pairwise overlap of two box sets.

    boxes_a: (N, 4); boxes_b: (M, 4). Returns (N, M) float64: intersection over union
    (``mode="union"``) or over the smaller of the two areas (``mode="min"``).
    """
    _check_mode(mode, "iou")
    a = _as_boxes(boxes_a, "boxes_a", "iou")
    b = _as_boxes(boxes_b, "boxes_b", "iou")
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
    than ``iou_threshold`` (a float in [0, 1]: 0 keeps no overlapping box, 1 keeps every box).
    Equal scores are taken in index order.

    Returns the (K,) int64 indices of the kept boxes, highest score first (empty for N = 0).
    """
    _check_mode(mode, "nms")
    iou_threshold = _check_threshold(iou_threshold, "nms")
    b = _as_boxes(boxes, "boxes", "nms")
    s = _one_per_box(scores, len(b), "scores", "nms").astype(np.float64)
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
    _check_mode(mode, "batched_nms")
    iou_threshold = _check_threshold(iou_threshold, "batched_nms")
    b = _as_boxes(boxes, "boxes", "batched_nms")
    s = _one_per_box(scores, len(b), "scores", "batched_nms").astype(np.float64)
    g = _one_per_box(groups, len(b), "groups", "batched_nms")
    if len(b) == 0:
        return np.zeros((0,), dtype=np.int64)
    # One exact nms() per group (no coordinate-offset trick, whose rounding can flip IoUs that
    # sit exactly on the threshold), then merge by score.
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
