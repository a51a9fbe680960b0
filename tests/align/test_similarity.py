"""The similarity transform recovers known transforms; aligned crops put landmarks on the template."""

from __future__ import annotations

import numpy as np
import pytest

from facenet.align import ARCFACE_112, align_faces, apply_transform, estimate_similarity, fallback_crop, template


def _similarity(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[scale * c, -scale * s, tx], [scale * s, scale * c, ty]])


@pytest.mark.parametrize("seed", range(5))
def test_recovers_known_transform(seed):
    rng = np.random.default_rng(seed)
    m = _similarity(rng.uniform(0.3, 3.0), rng.uniform(-np.pi, np.pi), *rng.uniform(-100, 100, 2))
    src = rng.uniform(0, 250, (5, 2))
    est = estimate_similarity(src, apply_transform(m, src))
    np.testing.assert_allclose(est, m, atol=1e-9)


def test_least_squares_with_noise_beats_perturbed_transforms():
    rng = np.random.default_rng(7)
    m = _similarity(1.3, 0.2, 5.0, -3.0)
    src = rng.uniform(0, 100, (20, 2))
    dst = apply_transform(m, src) + rng.normal(0, 0.5, (20, 2))
    est = estimate_similarity(src, dst)
    err = ((apply_transform(est, src) - dst) ** 2).sum()
    for _ in range(50):
        s2 = 1.0 + rng.normal(0, 0.01)
        a2 = rng.normal(0, 0.01)
        pert = _similarity(s2, a2, *rng.normal(0, 0.1, 2)) @ np.vstack([est, [0, 0, 1]])
        assert ((apply_transform(pert, src) - dst) ** 2).sum() >= err - 1e-9


def test_no_reflection():
    src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    dst = src * np.array([-1.0, 1.0])  # a mirror image: best *similarity* is not a reflection
    m = estimate_similarity(src, dst)
    assert np.linalg.det(m[:, :2]) > 0


def test_degenerate_input_is_an_error():
    with pytest.raises(ValueError):
        estimate_similarity(np.ones((5, 2)), np.ones((5, 2)))
    with pytest.raises(ValueError):
        estimate_similarity(np.ones((5, 2)), np.ones((4, 2)))


def test_aligned_landmarks_land_on_template():
    # Draw 5 dots at known positions in a rotated, scaled "face"; after alignment they sit on the template.
    import cv2

    m = _similarity(2.0, 0.3, 60.0, 40.0)
    lms = apply_transform(m, ARCFACE_112)
    img = np.zeros((400, 400, 3), np.uint8)
    for x, y in lms:
        cv2.circle(img, (int(round(x)), int(round(y))), 4, (255, 255, 255), -1)
    crop = align_faces(img, lms[None], (112, 112))
    assert crop.shape == (1, 112, 112, 3) and crop.dtype == np.uint8
    for x, y in ARCFACE_112:
        assert crop[0, int(round(y)), int(round(x))].max() > 200


def test_template_scales_and_empty_batch():
    np.testing.assert_allclose(template((224, 224)), ARCFACE_112 * 2)
    assert align_faces(np.zeros((10, 10, 3), np.uint8), np.zeros((0, 5, 2)), (112, 112)).shape == (0, 112, 112, 3)


def test_fallback_crop_is_centred():
    img = np.zeros((250, 250, 3), np.uint8)
    img[100:150, 100:150] = 255
    crop = fallback_crop(img, (112, 112))
    assert crop.shape == (112, 112, 3)
    assert crop[56, 56].max() == 255  # the centre of the image maps inside the crop
