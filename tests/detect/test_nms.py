"""IoU and NMS against plain-Python reference implementations."""

from __future__ import annotations

import numpy as np
import pytest

from facenet.detect.nms import batched_nms, iou, nms


def _ref_overlap(a, b, mode):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    denom = min(area_a, area_b) if mode == "min" else area_a + area_b - inter
    return inter / denom if denom > 0 else 0.0


def _ref_nms(boxes, scores, thr, mode):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(_ref_overlap(boxes[i], boxes[k], mode) <= thr for k in keep):
            keep.append(i)
    return keep


def _random_boxes(rng, n, extent=100.0):
    xy = rng.uniform(0, extent, size=(n, 2))
    wh = rng.uniform(1, extent / 3, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("mode", ["union", "min"])
def test_iou_matches_reference(seed, mode):
    rng = np.random.default_rng(seed)
    a, b = _random_boxes(rng, 17), _random_boxes(rng, 11)
    got = iou(a, b, mode=mode)
    want = np.array([[_ref_overlap(x, y, mode) for y in b] for x in a])
    assert got.shape == (17, 11)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.all((got >= 0) & (got <= 1 + 1e-12))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode", ["union", "min"])
@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_nms_matches_reference(seed, mode, thr):
    rng = np.random.default_rng(seed)
    boxes = _random_boxes(rng, 80)
    scores = rng.uniform(size=80)
    got = nms(boxes, scores, thr, mode=mode)
    assert got.dtype == np.int64
    assert got.tolist() == _ref_nms(boxes.tolist(), scores.tolist(), thr, mode)
    assert np.all(np.diff(scores[got]) <= 0)  # highest score first


@pytest.mark.parametrize("seed", range(4))
def test_batched_nms_is_nms_per_group(seed):
    rng = np.random.default_rng(seed)
    boxes, scores = _random_boxes(rng, 60), rng.uniform(size=60)
    groups = rng.integers(0, 3, size=60)
    got = batched_nms(boxes, scores, groups, 0.5)
    want = []
    for g in range(3):
        idx = np.flatnonzero(groups == g)
        want += [int(idx[k]) for k in _ref_nms(boxes[idx].tolist(), scores[idx].tolist(), 0.5, "union")]
    assert sorted(got.tolist()) == sorted(want)
    assert np.all(np.diff(scores[got]) <= 0)


def test_empty_inputs():
    empty = np.zeros((0, 4))
    assert iou(empty, _random_boxes(np.random.default_rng(0), 3)).shape == (0, 3)
    assert iou(np.zeros((2, 4)) + [0, 0, 1, 1], empty).shape == (2, 0)
    for mode in ("union", "min"):
        keep = nms(empty, np.zeros((0,)), 0.5, mode=mode)
        assert keep.shape == (0,) and keep.dtype == np.int64
    keep = batched_nms(empty, np.zeros((0,)), np.zeros((0,), int), 0.5)
    assert keep.shape == (0,) and keep.dtype == np.int64


def test_identical_boxes_keep_highest_score():
    boxes = np.tile([10.0, 10.0, 50.0, 40.0], (5, 1))
    scores = np.array([0.2, 0.9, 0.5, 0.9, 0.1])
    np.testing.assert_allclose(iou(boxes, boxes), np.ones((5, 5)))
    for mode in ("union", "min"):
        assert nms(boxes, scores, 0.5, mode=mode).tolist() == [1]  # tie: lower index first
    # IoU 1 is not *greater* than a threshold of 1: nothing is suppressed.
    assert nms(boxes, scores, 1.0).tolist() == [1, 3, 2, 0, 4]


def test_disjoint_boxes_all_kept():
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [0, 20, 10, 30], [10, 10, 20, 20]], float)
    scores = np.array([0.1, 0.4, 0.3, 0.2])
    ov = iou(boxes, boxes)
    np.testing.assert_allclose(ov, np.eye(4))  # boxes 0 and 3 touch at a corner only
    assert nms(boxes, scores, 0.0).tolist() == [1, 2, 3, 0]
    assert nms(boxes, scores, 0.0, mode="min").tolist() == [1, 2, 3, 0]


def test_min_mode_suppresses_contained_box():
    boxes = np.array([[0, 0, 100, 100], [10, 10, 30, 30]], float)
    scores = np.array([0.9, 0.8])
    assert iou(boxes[:1], boxes[1:])[0, 0] == pytest.approx(400 / 10000)
    assert iou(boxes[:1], boxes[1:], mode="min")[0, 0] == pytest.approx(1.0)
    assert nms(boxes, scores, 0.7).tolist() == [0, 1]
    assert nms(boxes, scores, 0.7, mode="min").tolist() == [0]


def test_degenerate_boxes_give_zero_not_nan():
    boxes = np.array([[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10]], float)
    for mode in ("union", "min"):
        ov = iou(boxes, boxes, mode=mode)
        assert not np.isnan(ov).any()
        assert ov[0, 1] == 0.0
        assert nms(boxes, np.array([0.3, 0.2, 0.1]), 0.5, mode=mode).tolist() == [0, 1, 2]


def test_bad_mode_and_shape():
    with pytest.raises(ValueError, match="'mode'"):
        nms(np.zeros((1, 4)), np.zeros(1), 0.5, mode="max")
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        iou(np.zeros((2, 3)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="scores"):
        nms(np.zeros((2, 4)), np.zeros(3), 0.5)


def test_parameter_messages():
    boxes, scores = np.zeros((2, 4)), np.zeros(2)
    with pytest.raises(ValueError, match="^The 'mode' parameter of nms must be one of 'union', 'min'. Got 'max' instead.$"):
        nms(boxes, scores, 0.5, mode="max")
    with pytest.raises(ValueError, match="The 'mode' parameter of iou must be one of"):
        iou(boxes, boxes, mode="MIN")
    with pytest.raises(ValueError, match="The 'mode' parameter of batched_nms must be one of"):
        batched_nms(boxes, scores, np.zeros(2), 0.5, mode="max")
    for bad in (-0.1, 1.5, float("nan"), "0.5", None, True):
        with pytest.raises(ValueError, match=r"The 'iou_threshold' parameter of nms must be a float in \[0, 1\]"):
            nms(boxes, scores, bad)
        with pytest.raises(ValueError, match=r"The 'iou_threshold' parameter of batched_nms must be a float in \[0, 1\]"):
            batched_nms(boxes, scores, np.zeros(2), bad)
    assert nms(boxes, scores, np.float32(0.5)).tolist() == [0, 1]  # numpy thresholds; empty boxes never overlap
    assert nms(np.array([[0, 0, 2, 2], [0, 0, 2, 2]], float), scores, 1.0).tolist() == [0, 1]  # IoU 1 is not > 1
    with pytest.raises(ValueError, match=r"^The 'boxes_a' parameter of iou must be an \(N, 4\) array of x1, y1, x2, y2. "
                                         r"Got shape \(2, 3\) instead.$"):
        iou(np.zeros((2, 3)), boxes)
    with pytest.raises(ValueError, match="^The 'scores' parameter of nms must hold one value per box. Got 3 scores for 2 boxes"):
        nms(boxes, np.zeros(3), 0.5)
    with pytest.raises(ValueError, match="The 'groups' parameter of batched_nms must hold one value per box. Got 1 groups"):
        batched_nms(boxes, scores, np.zeros(1), 0.5)
    with pytest.raises(ValueError, match="The 'scores' parameter of batched_nms"):
        batched_nms(boxes, np.zeros(1), np.zeros(2), 0.5)
    with pytest.raises(ValueError, match="The 'boxes' parameter of nms must be an \\(N, 4\\) array"):
        nms([[0, 0, 1, "x"]], [1.0], 0.5)
