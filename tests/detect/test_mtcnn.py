"""MTCNN on real LFW photographs, composites of them, blank images and bad arguments."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facenet.data.images import load_image
from facenet.detect import Detections, Detector, create_detector, detector_config
from facenet.detect.mtcnn import MTCNN

SINGLES = ["Aaron_Eckhart", "AJ_Cook", "George_W_Bush", "Serena_Williams", "Colin_Powell", "Tony_Blair"]
GRID = ["Hugo_Chavez", "Gerhard_Schroeder", "Jennifer_Aniston", "Ariel_Sharon"]
ROW = ["Donald_Rumsfeld", "Laura_Bush", "Vladimir_Putin"]


@pytest.fixture(scope="module")
def mtcnn() -> MTCNN:
    return MTCNN()


def _lfw(data_dir: Path, name: str) -> np.ndarray:
    return load_image(data_dir / "lfw" / name / f"{name}_0001.jpg")


def _grid(data_dir: Path) -> np.ndarray:
    """2x2 grid of 250x250 LFW photos -> (500, 500, 3)."""
    tiles = [_lfw(data_dir, n) for n in GRID]
    return np.concatenate([np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0)


def _row(data_dir: Path) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Three LFW photos resized to 300, 180 and 220 px, side by side on a (300, 700) canvas.

    Returns the canvas and each tile's (x_start, x_end).
    """
    canvas = np.full((300, 700, 3), 127, np.uint8)
    spans, x = [], 0
    for name, side in zip(ROW, (300, 180, 220)):
        tile = cv2.resize(_lfw(data_dir, name), (side, side), interpolation=cv2.INTER_AREA)
        canvas[: side, x : x + side] = tile
        spans.append((x, x + side))
        x += side
    return canvas, spans


def _check_shapes(det: Detections, k: int | None = None) -> None:
    n = len(det)
    if k is not None:
        assert n == k
    assert det.boxes.shape == (n, 4) and det.boxes.dtype == np.float32
    assert det.scores.shape == (n,) and det.scores.dtype == np.float32
    assert det.landmarks.shape == (n, 5, 2) and det.landmarks.dtype == np.float32
    assert np.all(np.diff(det.scores) <= 0), "highest score first"


def _check_face(box: np.ndarray, marks: np.ndarray) -> None:
    x1, y1, x2, y2 = box
    slack = 0.05 * (x2 - x1)
    assert np.all(marks[:, 0] >= x1 - slack) and np.all(marks[:, 0] <= x2 + slack), (box, marks)
    assert np.all(marks[:, 1] >= y1 - slack) and np.all(marks[:, 1] <= y2 + slack), (box, marks)
    left_eye, right_eye, nose, mouth_l, mouth_r = marks
    assert left_eye[0] < right_eye[0] and mouth_l[0] < mouth_r[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])


def test_registry_and_protocol(mtcnn):
    cfg = detector_config("mtcnn")
    assert cfg.name == "mtcnn" and cfg.licence == "MIT"
    assert [w.relpath for w in cfg.weights] == ["data/pnet.pt", "data/rnet.pt", "data/onet.pt"]
    assert isinstance(mtcnn, Detector) and mtcnn.name == "mtcnn"
    det = create_detector("mtcnn", min_face_size=40)
    assert isinstance(det, MTCNN) and det.min_face_size == 40


@pytest.mark.data
@pytest.mark.parametrize("name", SINGLES)
def test_single_lfw_face(mtcnn, data_dir, name):
    image = _lfw(data_dir, name)
    det = mtcnn.detect(image)
    _check_shapes(det, 1)
    assert det.scores[0] > 0.9
    x1, y1, x2, y2 = det.boxes[0]
    assert x1 < 125 < x2 and y1 < 125 < y2, "LFW faces are centred"
    assert 60 < x2 - x1 < 160
    _check_face(det.boxes[0], det.landmarks[0])
    # Deep-funneled LFW: the eyes sit near (104, 113) and (146, 112).
    np.testing.assert_allclose(det.landmarks[0, 0], [104, 113], atol=15)
    np.testing.assert_allclose(det.landmarks[0, 1], [146, 112], atol=15)


@pytest.mark.data
def test_grid_of_four_faces(mtcnn, data_dir):
    image = _grid(data_dir)
    assert image.shape == (500, 500, 3)
    det = mtcnn.detect(image)
    _check_shapes(det, 4)
    centres = (det.boxes[:, :2] + det.boxes[:, 2:]) / 2
    tiles = sorted(zip((centres[:, 1] // 250).astype(int), (centres[:, 0] // 250).astype(int)))
    assert tiles == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert np.all(det.scores > 0.9)
    for box, marks in zip(det.boxes, det.landmarks):
        _check_face(box, marks)


@pytest.mark.data
def test_row_of_differently_sized_faces(mtcnn, data_dir):
    image, spans = _row(data_dir)
    det = mtcnn.detect(image)
    _check_shapes(det, 3)
    cx = (det.boxes[:, 0] + det.boxes[:, 2]) / 2
    widths = det.boxes[:, 2] - det.boxes[:, 0]
    for (lo, hi), side in zip(spans, (300, 180, 220)):
        inside = np.flatnonzero((cx > lo) & (cx < hi))
        assert len(inside) == 1, (lo, hi, det.boxes)
        # Face width scales with the tile: about 0.36 of the side in LFW.
        assert 0.2 * side < widths[inside[0]] < 0.6 * side
    assert np.all(det.scores > 0.9)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((200, 300, 3), np.uint8),
        np.full((64, 64, 3), 255, np.uint8),
        np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8),
        np.zeros((5, 5, 3), np.uint8),
        np.zeros((11, 40, 3), np.uint8),
        np.zeros((1, 1, 3), np.uint8),
    ],
    ids=["black", "white", "noise", "5x5", "11x40", "1x1"],
)
def test_no_face_gives_empty_detections(mtcnn, image):
    det = mtcnn.detect(image)
    _check_shapes(det, 0)
    assert det.boxes.shape == (0, 4) and det.scores.shape == (0,) and det.landmarks.shape == (0, 5, 2)


@pytest.mark.data
def test_batch_of_different_sizes_matches_single(mtcnn, data_dir):
    face = _lfw(data_dir, SINGLES[0])
    images = [
        face,
        _grid(data_dir),
        np.ascontiguousarray(face[30:230, 20:200]),
        np.zeros((64, 64, 3), np.uint8),
        _lfw(data_dir, SINGLES[1]),
        np.zeros((8, 8, 3), np.uint8),
    ]
    batch = mtcnn.detect_batch(images)
    assert len(batch) == len(images)
    assert [len(d) for d in batch] == [1, 4, 1, 0, 1, 0]
    for image, got in zip(images, batch):
        want = mtcnn.detect(image)
        _check_shapes(got, len(want))
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-3)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)
        np.testing.assert_allclose(got.landmarks, want.landmarks, atol=1e-3)
    assert mtcnn.detect_batch([]) == []


@pytest.mark.data
def test_threads_setting_is_restored(data_dir):
    before = torch.get_num_threads()
    det = MTCNN(threads=1).detect(_lfw(data_dir, SINGLES[2]))
    assert len(det) == 1
    assert torch.get_num_threads() == before


@pytest.mark.data
def test_min_face_size_prunes_small_faces(data_dir):
    image, _ = _row(data_dir)  # faces about 70 to 110 px wide
    assert len(MTCNN(min_face_size=100).detect(image)) == 3
    # The limit is soft (P-Net fires on faces down to about half its window), but a window
    # more than twice the largest face finds nothing, and one larger than the image never runs.
    assert len(MTCNN(min_face_size=250).detect(image)) == 0
    assert len(MTCNN(min_face_size=301).detect(image)) == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_face_size": 0}, "The 'min_face_size' parameter of MTCNN must be an int in [1, inf). Got 0 instead."),
        ({"min_face_size": 20.0}, "The 'min_face_size' parameter of MTCNN must be an int in [1, inf). Got 20.0 instead."),
        ({"min_face_size": True}, "The 'min_face_size' parameter of MTCNN must be an int in [1, inf). Got True instead."),
        ({"thresholds": (0.6, 0.7)}, "The 'thresholds' parameter of MTCNN must be a sequence of 3 floats in [0, 1]. Got (0.6, 0.7) instead."),
        ({"thresholds": (0.6, 1.5, 0.7)}, "The 'thresholds' parameter of MTCNN must be a sequence of 3 floats in [0, 1]. Got (0.6, 1.5, 0.7) instead."),
        ({"scale_factor": 1.0}, "The 'scale_factor' parameter of MTCNN must be a float in (0, 1). Got 1.0 instead."),
        ({"scale_factor": 0}, "The 'scale_factor' parameter of MTCNN must be a float in (0, 1). Got 0 instead."),
        ({"nms_thresholds": "abc"}, "The 'nms_thresholds' parameter of MTCNN must be a sequence of 3 floats in [0, 1]. Got 'abc' instead."),
        ({"threads": 0}, "The 'threads' parameter of MTCNN must be an int in [1, inf) or None. Got 0 instead."),
        ({"device": "nonsense"}, "The 'device' parameter of MTCNN must be a str or torch.device"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as info:
        MTCNN(**kwargs)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "image",
    [np.zeros((20, 20), np.uint8), np.zeros((20, 20, 4), np.uint8), np.zeros((20, 20, 3), np.float32), [[0, 0, 0]]],
    ids=["grey", "rgba", "float", "list"],
)
def test_bad_image(mtcnn, image):
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB"):
        mtcnn.detect(image)
