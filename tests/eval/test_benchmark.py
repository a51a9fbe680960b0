"""evaluate_pairs on a stand-in pipeline (no models): distances, the report, the failed images."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from facenet.data.lfw import PairList
from facenet.errors import DataError
from facenet.eval.benchmark import PairEvaluation, describe_pipeline, evaluate_pairs
from facenet.eval.report import report_from_distances


class FakePipeline:
    """Each image path maps to a fixed unit vector; paths named in ``no_face`` get face_found=False."""

    def __init__(self, vectors: dict[Path, np.ndarray], no_face: set[Path], threshold: float | None) -> None:
        self.vectors, self.no_face, self.threshold, self.flip = vectors, no_face, threshold, False
        self.detector = SimpleNamespace(name="fake-det")
        self.embedder = SimpleNamespace(config=SimpleNamespace(name="fake-emb", embedding_size=4))
        self.calls = 0

    def represent(self, paths):
        self.calls += len(paths)
        emb = np.stack([self.vectors[p] for p in paths]).astype(np.float32)
        return _Rep(emb, np.array([p not in self.no_face for p in paths]))


class _Rep:
    def __init__(self, embeddings: np.ndarray, face_found: np.ndarray) -> None:
        self.embeddings, self.face_found = embeddings, face_found

    def __len__(self) -> int:
        return len(self.embeddings)


def _setup(n_folds: int, threshold: float | None):
    rng = np.random.default_rng(0)
    people = [f"P{i}" for i in range(6)]
    centre = {p: rng.normal(size=4) for p in people}
    vectors = {}
    for p in people:
        for j in (1, 2):
            v = centre[p] + 0.3 * rng.normal(size=4)
            vectors[Path(f"/x/{p}/{p}_{j:04d}.jpg")] = v / np.linalg.norm(v)
    a, b, same, folds = [], [], [], []
    for k in range(n_folds):
        for i, p in enumerate(people):
            q = people[(i + 1 + k) % len(people)]
            a += [Path(f"/x/{p}/{p}_0001.jpg"), Path(f"/x/{p}/{p}_0001.jpg")]
            b += [Path(f"/x/{p}/{p}_0002.jpg"), Path(f"/x/{q}/{q}_0002.jpg")]
            same += [True, False]
            folds += [k, k]
    pairs = PairList(a, b, np.array(same), np.array(folds))
    no_face = {Path("/x/P0/P0_0002.jpg")}
    return FakePipeline(vectors, no_face, threshold), pairs


@pytest.mark.parametrize("n_folds, threshold", [(3, 1.0), (1, 1.0), (1, None)])
def test_evaluate_pairs_report(n_folds, threshold) -> None:
    pipe, pairs = _setup(n_folds, threshold)
    ev = evaluate_pairs(pipe, pairs, far_target=0.2, progress=False)
    assert isinstance(ev, PairEvaluation)
    assert pipe.calls == 12  # every distinct image embedded once
    va = np.stack([pipe.vectors[p] for p in pairs.paths_a])
    vb = np.stack([pipe.vectors[p] for p in pairs.paths_b])
    np.testing.assert_allclose(ev.distances, ((va - vb) ** 2).sum(1), atol=1e-5)
    assert ev.same.tolist() == pairs.same.tolist() and ev.folds.tolist() == pairs.folds.tolist()
    assert ev.failed_images == [str(Path("/x/P0/P0_0002.jpg"))]
    r = ev.report
    assert (r.n_pairs, r.n_images, r.n_folds, r.no_face) == (len(pairs), 12, n_folds, 1)
    assert (r.detector, r.embedder, r.flip, r.far_target) == ("fake-det", "fake-emb", False, 0.2)
    assert r.seconds is not None and r.seconds >= 0
    # the one rule: the same report as scoring the distances directly
    expect = report_from_distances(ev.distances, ev.same, ev.folds, far_target=0.2, calibrated_threshold=threshold,
                                   n_images=12, no_face=1, seconds=r.seconds, **describe_pipeline(pipe))
    assert r == expect
    if n_folds == 1:
        assert (r.accuracy_mean is None) == (threshold is None)


def test_evaluate_pairs_refuses_empty_and_bad_far() -> None:
    pipe, pairs = _setup(1, 1.0)
    with pytest.raises(DataError, match="No pairs"):
        evaluate_pairs(pipe, pairs.subset(np.zeros(len(pairs), bool)), progress=False)
    with pytest.raises(ValueError, match="The 'far_target' parameter of evaluate_pairs"):
        evaluate_pairs(pipe, pairs, far_target=-0.1, progress=False)
    assert pipe.calls == 0  # refused before any embedding


def test_describe_pipeline() -> None:
    pipe, _ = _setup(1, None)
    assert describe_pipeline(pipe) == {"detector": "fake-det", "embedder": "fake-emb", "flip": False}
