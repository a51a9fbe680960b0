"""YuNet finds the single face in LFW photos and every face in composed group images."""

from __future__ import annotations

import numpy as np
import pytest

from facenet import Detections, UnknownModelError, create_detector, list_detectors
from facenet.data.images import load_image

PEOPLE = ["Aaron_Eckhart", "Colin_Powell", "Serena_Williams", "Gerhard_Schroeder", "Jennifer_Aniston", "Hugo_Chavez"]


@pytest.fixture(scope="module")
def yunet():
    return create_detector("yunet")


def _load(lfw_dir, name, i=1):
    return load_image(lfw_dir / name / f"{name}_{i:04d}.jpg")


def _check_face(det: Detections, k: int, box) -> None:
    x1, y1, x2, y2 = det.boxes[k]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    bx1, by1, bx2, by2 = box
    assert bx1 < cx < bx2 and by1 < cy < by2
    lm = det.landmarks[k]
    assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]  # image-left eye / mouth corner first
    assert lm[0, 1] < lm[2, 1] < lm[3, 1]  # eyes above nose above mouth
    assert ((lm >= det.boxes[k, :2] - 5) & (lm <= det.boxes[k, 2:] + 5)).all()


@pytest.mark.parametrize("name", PEOPLE)
def test_single_lfw_face(yunet, lfw_dir, name):
    img = _load(lfw_dir, name)
    det = yunet.detect(img)
    assert len(det) >= 1 and det.scores[0] > 0.6
    k = det.primary(img.shape)
    _check_face(det, k, (80, 80, 170, 170))  # LFW deep-funneled: the face is centred


def test_composed_group_photo(yunet, lfw_dir):
    tiles = [_load(lfw_dir, n) for n in PEOPLE[:6]]
    group = np.concatenate([np.concatenate(tiles[:3], 1), np.concatenate(tiles[3:], 1)], 0)  # 500 x 750
    det = yunet.detect(group)
    centres = (det.boxes[:, :2] + det.boxes[:, 2:]) / 2
    for r in range(2):
        for c in range(3):
            tile = (c * 250 + 70, r * 250 + 70, c * 250 + 180, r * 250 + 180)
            hits = [k for k in range(len(det)) if tile[0] < centres[k, 0] < tile[2] and tile[1] < centres[k, 1] < tile[3]]
            assert len(hits) == 1, f"tile {(r, c)}: {len(hits)} faces"
            _check_face(det, hits[0], tile)


def test_large_image_is_downscaled_for_detection(yunet, lfw_dir):
    img = _load(lfw_dir, "Colin_Powell")
    big = np.kron(img, np.ones((8, 8, 1), np.uint8))  # 2000 x 2000
    det = yunet.detect(big)
    k = det.primary(big.shape)
    _check_face(det, k, (640, 640, 1360, 1360))


def test_batch_of_different_sizes(yunet, lfw_dir):
    img = _load(lfw_dir, "Hugo_Chavez")
    out = yunet.detect_batch([img, img[::2, ::2], np.zeros((30, 500, 3), np.uint8), np.zeros((1, 1, 3), np.uint8)])
    assert [len(d) >= 1 for d in out] == [True, True, False, False]
    assert out[2].boxes.shape == (0, 4) and out[2].landmarks.shape == (0, 5, 2)


def test_rejects_bad_image_and_args(yunet):
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        yunet.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="'score_threshold' parameter of YuNet"):
        create_detector("yunet", score_threshold=1.5)


def test_registry():
    assert {"yunet", "mtcnn"} <= set(list_detectors())
    with pytest.raises(UnknownModelError, match="Did you mean 'yunet'"):
        create_detector("yunett")


def test_detections_helpers():
    boxes = np.array([[0, 0, 10, 10], [40, 40, 60, 60], [0, 0, 50, 50]], np.float32)
    det = Detections(boxes, [0.9, 0.8, 0.7], np.zeros((3, 5, 2)))
    assert det.primary((100, 100), "largest") == 2
    assert det.primary((100, 100), "score") == 0
    assert det.primary((100, 100), "central") == 1
    assert Detections.empty().primary((10, 10)) == -1
    assert len(det.select([0, 2])) == 2 and det.sorted().scores.tolist() == pytest.approx([0.9, 0.8, 0.7])
    with pytest.raises(ValueError):
        Detections(boxes, [0.9], np.zeros((3, 5, 2)))
