"""The one face cropper: every path finds the same faces the same way (retry pass included)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from facenet.align.cropper import FaceCropper, as_batch
from facenet.data.images import load_image
from facenet.detect import create_detector


def _dark_side_lit(lfw_dir: Path) -> np.ndarray:
    """A face lit from one side and underexposed: YuNet's first pass (0.6) misses it, the retry
    pass (0.3) finds it."""
    img = load_image(lfw_dir / "Aaron_Pena" / "Aaron_Pena_0001.jpg")
    ramp = np.linspace(1.0, 0.05, img.shape[1])[None, :, None]
    return np.clip(img * ramp * 0.15, 0, 255).astype(np.uint8)


def _tiny_face(lfw_dir: Path) -> np.ndarray:
    """A face of about 16 px on a grey 160 x 160 canvas."""
    img = load_image(lfw_dir / "Aaron_Pena" / "Aaron_Pena_0001.jpg")
    small = cv2.resize(img, (40, 40), interpolation=cv2.INTER_AREA)
    canvas = np.full((160, 160, 3), 128, np.uint8)
    canvas[40:80, 40:80] = small
    return canvas


@pytest.fixture(scope="module")
def hard_faces(lfw_dir: Path) -> dict[str, np.ndarray]:
    faces = {"dark_side_lit": _dark_side_lit(lfw_dir), "tiny": _tiny_face(lfw_dir)}
    first = create_detector("yunet")
    for name, img in faces.items():  # the premise: the first pass alone finds nothing
        assert len(first.detect(img)) == 0, name
    return faces


@pytest.mark.parametrize("name", ["dark_side_lit", "tiny"])
def test_retry_finds_what_the_first_pass_misses_on_every_path(hard_faces, pipeline, name, tmp_path, capsys):
    from facenet.cli import main

    img = hard_faces[name]
    cropper = FaceCropper("yunet")
    assert len(cropper.detect_rgb(img)) >= 1
    assert len(FaceCropper("yunet", retry=False).detect_rgb(img)) == 0
    # the pipeline's every-face path (embed_all) and its primary-face path agree
    det, emb = pipeline.embed_all(img)
    assert len(det) >= 1 and emb.shape == (len(det), 128)
    assert pipeline.represent(img).face_found.tolist() == [True]
    # facenet detect on the same photo
    path = tmp_path / f"{name}.png"
    cv2.imwrite(str(path), img[:, :, ::-1])
    assert main(["detect", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["images"][0]["faces"]) >= 1 and out["retry"] is True and out["failed"] == []
    assert main(["detect", str(path), "--json", "--no-retry"]) == 0
    assert json.loads(capsys.readouterr().out)["images"][0]["faces"] == []


def test_align_folder_uses_the_cropper(hard_faces, tmp_path):
    from facenet.align.folder import align_folder

    src = tmp_path / "src" / "person"
    src.mkdir(parents=True)
    cv2.imwrite(str(src / "dark.png"), hard_faces["dark_side_lit"][:, :, ::-1])
    report = align_folder(tmp_path / "src", tmp_path / "dst", detector="yunet", size=112, progress=False)
    assert report.aligned == 1 and report.no_face == []
    crop = load_image(tmp_path / "dst" / "person" / "dark.png")
    cropper = FaceCropper("yunet", size=(112, 112))
    expected = cropper.crop_primary(load_image(src / "dark.png")).crops[0]
    assert np.array_equal(crop, expected)  # the training crop is the inference crop


def test_pipeline_validation_and_cropper_make_identical_crops(lfw_dir, pipeline):
    from facenet.train.validate import ViewOneValidator

    val = ViewOneValidator(lfw_dir, pipeline.embedder.config, max_pairs=4, progress=False)
    pc = pipeline.cropper.crop_primary(val.paths)
    assert np.array_equal(val.crops, pc.crops)
    assert pc.face_found.all() and (pc.n_faces >= 1).all()


def test_mtcnn_batched_cascade_matches_one_image_at_a_time(lfw_dir):
    paths = sorted((lfw_dir / "Aaron_Peirsol").glob("*.jpg"))[:3]
    imgs = [load_image(p) for p in paths]
    imgs[1] = cv2.resize(imgs[1], (180, 200))  # sizes may differ inside one batch
    cropper = FaceCropper("mtcnn", size=(160, 160), template="box_margin_32")
    batched = cropper.detect_many(imgs)
    single = [cropper.detect_rgb(im) for im in imgs]
    for b, s in zip(batched, single):
        assert len(b) == len(s) >= 1
        np.testing.assert_allclose(b.boxes, s.boxes, atol=1e-3)
        np.testing.assert_allclose(b.landmarks, s.landmarks, atol=1e-3)
    assert cropper.margin == 32.0


def test_fallback_is_counted_and_flagged():
    blank = np.full((120, 100, 3), 200, np.uint8)
    pc = FaceCropper("yunet").crop_primary([blank, blank])
    assert pc.crops.shape == (2, 112, 112, 3)
    assert pc.face_found.tolist() == [False, False] and pc.n_faces.tolist() == [0, 0]
    assert np.isnan(pc.detections.boxes).all() and (pc.detections.scores == 0).all()


def test_face_policy_and_parameters_are_checked():
    with pytest.raises(ValueError, match="The 'face_policy' parameter of FaceCropper must be one of 'central', 'largest', 'score'. Got 'big' instead."):
        FaceCropper("yunet", face_policy="big")
    with pytest.raises(ValueError, match="'template' parameter of FaceCropper"):
        FaceCropper("yunet", template="dlib_68")
    with pytest.raises(ValueError, match="'detector' parameter of FaceCropper"):
        FaceCropper(42)  # type: ignore[arg-type]
    from facenet.errors import UnknownModelError

    with pytest.raises(UnknownModelError, match="Did you mean 'yunet'"):
        FaceCropper("yunett")


def test_as_batch_shapes():
    one = np.zeros((10, 10, 3), np.uint8)
    assert len(as_batch(one)) == 1 and len(as_batch(np.stack([one, one]))) == 2
    assert len(as_batch([one, one, one])) == 3 and as_batch("a.jpg") == ["a.jpg"]
