"""``--update``'s assignment (facenet.cluster.update): new faces joining existing clusters against
brute force, the cannot-link rule, and the detach rule's per-cluster join limits."""

from __future__ import annotations

import numpy as np
import pytest

from facenet.cluster.update import assign_nearest, join_limits


def _brute_force_assign(x_new, g_new, x_old, lab_old, g_old, threshold, n_clusters):
    members = {c: [i for i in range(len(x_old)) if lab_old[i] == c] for c in range(n_clusters)}
    photos = {c: {int(g_old[i]) for i in members[c]} for c in range(n_clusters)}
    pairs = sorted((float(np.mean([np.sum((x_new[f] - x_old[i]) ** 2) for i in members[c]])), f, c)
                   for f in range(len(x_new)) for c in range(n_clusters) if members[c])
    out = np.full(len(x_new), -1, np.int64)
    for d, f, c in pairs:
        if d < (threshold[c] if np.ndim(threshold) else threshold) and out[f] < 0 and int(g_new[f]) not in photos[c]:
            out[f] = c
            photos[c].add(int(g_new[f]))
    return out


def _assign_case(seed):
    """Old faces of 4 people (some unclustered), and 12 new ones, some sharing a photo with an old
    face or with each other: (x_new, g_new, x_old, lab_old, g_old)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 8))
    x_old = centres[rng.integers(0, 4, 30)] + 0.4 * rng.normal(size=(30, 8))
    x_old /= np.linalg.norm(x_old, axis=1, keepdims=True)
    lab_old = np.where(rng.random(30) < 0.2, -1, np.argmax(x_old @ centres.T, 1))
    x_new = centres[rng.integers(0, 4, 12)] + 0.4 * rng.normal(size=(12, 8))
    x_new /= np.linalg.norm(x_new, axis=1, keepdims=True)
    return x_new, rng.integers(0, 40, 12) + 25, x_old, lab_old, np.arange(30)


@pytest.mark.parametrize("seed", range(5))
def test_assign_nearest_matches_brute_force(seed):
    x_new, g_new, x_old, lab_old, g_old = _assign_case(seed)
    got = assign_nearest(x_new.astype(np.float32), g_new, x_old.astype(np.float32), lab_old, g_old, 1.0, 4)
    assert np.array_equal(got, _brute_force_assign(x_new, g_new, x_old, lab_old, g_old, 1.0, 4))


@pytest.mark.parametrize("seed", range(3))
def test_assign_nearest_with_the_detach_rule_limits(seed):
    x_new, g_new, x_old, lab_old, g_old = _assign_case(seed)
    limits = join_limits(lab_old, 4, 1.0, 0.6, 0.5, 1.2)
    sizes = [int((lab_old == c).sum()) for c in range(4)]
    assert np.allclose(limits, [min(1.0, 1.2 + (0.6 - 1.2) * max(n, 1) ** -0.5) for n in sizes])  # by hand
    got = assign_nearest(x_new.astype(np.float32), g_new, x_old.astype(np.float32), lab_old, g_old, 1.0, 4, limits)
    assert np.array_equal(got, _brute_force_assign(x_new, g_new, x_old, lab_old, g_old, limits, 4))


def test_join_limits_a_lone_face_needs_the_single_limit():
    # a cluster of one face: a newcomer must come under ``single``; a big one tends to the cap
    lim = join_limits(np.array([0] + [1] * 400), 2, 1.28, 0.7, 0.5, 1.38)
    assert lim[0] == pytest.approx(0.7) and lim[1] == pytest.approx(min(1.28, 1.38 - 0.68 / 20))
    x = np.eye(3, dtype=np.float32)
    near = (x[0] + 0.5 * x[1]) / np.linalg.norm(x[0] + 0.5 * x[1])  # 0.211 from cluster 0's one face
    one = assign_nearest(near[None], np.array([9]), x[:1], np.array([0]), np.array([0]), 1.28, 1)
    assert one.tolist() == [0]
    strict = assign_nearest(near[None], np.array([9]), x[:1], np.array([0]), np.array([0]), 1.28, 1, np.array([0.2]))
    assert strict.tolist() == [-1]


def test_assign_nearest_keeps_two_faces_of_one_photo_apart():
    x = np.eye(3, dtype=np.float32)
    x_old, lab_old, g_old = x[:1], np.array([0]), np.array([0])
    x_new = np.stack([x[0], x[0]])  # two faces of one new photo, both identical to cluster 0
    assert assign_nearest(x_new, np.array([7, 7]), x_old, lab_old, g_old, 0.5, 1).tolist() == [0, -1]
    # nor does a face join a cluster that already holds a face of its photo
    assert assign_nearest(x_new[:1], np.array([0]), x_old, lab_old, g_old, 0.5, 1).tolist() == [-1]
