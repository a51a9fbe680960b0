"""The pipeline end to end on real LFW photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facenet import Detections, FacePipeline, InvalidImageError
from facenet.distance import pairwise_squared_l2


def _photo(lfw_dir, name, i=1):
    return lfw_dir / name / f"{name}_{i:04d}.jpg"


def test_detect_align_embed_shapes(pipeline, lfw_dir):
    p = _photo(lfw_dir, "George_W_Bush")
    det = pipeline.detect(p)
    assert isinstance(det, Detections) and len(det) >= 1
    assert det.boxes.shape == (len(det), 4) and det.landmarks.shape == (len(det), 5, 2)
    crops = pipeline.align(p, det)
    assert crops.shape == (len(det), 112, 112, 3) and crops.dtype == np.uint8
    e = pipeline.embed_faces(crops)
    assert e.shape == (len(det), 128)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)


def test_no_face_gives_empty_arrays_and_counted_fallback(pipeline):
    blank = np.full((200, 300, 3), 127, np.uint8)
    det = pipeline.detect(blank)
    assert len(det) == 0 and det.boxes.shape == (0, 4) and det.scores.shape == (0,) and det.landmarks.shape == (0, 5, 2)
    assert pipeline.align(blank, det).shape == (0, 112, 112, 3)
    r = pipeline.represent([blank])
    assert r.embeddings.shape == (1, 128) and not r.face_found[0] and np.isnan(r.boxes[0]).all()
    d, e = pipeline.embed_all(blank)
    assert len(d) == 0 and e.shape == (0, 128)


def test_input_kinds_give_the_same_embedding(pipeline, lfw_dir):
    p = _photo(lfw_dir, "Colin_Powell")
    arr = np.asarray(Image.open(p).convert("RGB"))
    e = pipeline.embed([p, str(p), p.read_bytes(), Image.open(p), arr])
    assert e.shape == (5, 128)
    np.testing.assert_allclose(e, np.repeat(e[:1], 5, 0), atol=1e-5)
    assert pipeline.embed(p).shape == (1, 128)


def test_mixed_sizes_in_one_batch(pipeline, lfw_dir):
    img = np.asarray(Image.open(_photo(lfw_dir, "Tony_Blair")).convert("RGB"))
    big = np.asarray(Image.fromarray(img).resize((700, 700)))
    padded = np.zeros((400, 900, 3), np.uint8)
    padded[75:325, 300:550] = img
    r = pipeline.represent([img, big, padded])
    assert r.face_found.all()
    d = pairwise_squared_l2(r.embeddings)
    assert d.max() < 0.3  # the same face at three scales / positions


def test_verify_same_and_different(pipeline, lfw_dir):
    same = pipeline.verify(_photo(lfw_dir, "George_W_Bush", 1), _photo(lfw_dir, "George_W_Bush", 2))
    diff = pipeline.verify(_photo(lfw_dir, "George_W_Bush", 1), _photo(lfw_dir, "Serena_Williams", 1))
    assert same.same and not diff.same
    assert 0 <= same.distance < same.threshold <= diff.distance <= 4


def test_identities_cluster(pipeline, lfw_dir):
    people = ["George_W_Bush", "Colin_Powell", "Tony_Blair", "Donald_Rumsfeld"]
    paths = [_photo(lfw_dir, n, i) for n in people for i in (1, 2, 3)]
    d = pairwise_squared_l2(pipeline.embed(paths))
    labels = np.repeat(np.arange(4), 3)
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(12, dtype=bool)
    assert d[same & off].max() < d[~same].min()


def test_bad_input_in_api_raises_named_error(pipeline, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    with pytest.raises(InvalidImageError, match="bad.jpg"):
        pipeline.embed([bad])


def test_flip_tta_changes_little(lfw_dir):
    p1, p2 = _photo(lfw_dir, "George_W_Bush", 1), _photo(lfw_dir, "George_W_Bush", 2)
    plain = FacePipeline(flip=False).embed([p1, p2])
    flip = FacePipeline(flip=True).embed([p1, p2])
    assert ((plain * flip).sum(1) > 0.9).all()


def test_constructor_validation():
    with pytest.raises(ValueError, match="face_policy"):
        FacePipeline(face_policy="biggest")
    with pytest.raises(ValueError, match="threshold"):
        FacePipeline(threshold=5.0)
