"""KNNIdentifier and SVMIdentifier on tiny synthetic clusters (and a few real photos): open-set
rejection, several photos per person, shapes, brute-force agreement and parameter messages."""

from __future__ import annotations

import numpy as np
import pytest

from facenet.gallery.identifiers import KNNIdentifier, NotFittedError, OpenSetPrediction, SVMIdentifier
from facenet.gallery.impostor import ImpostorModel, identification_threshold
from facenet.gallery.openset import margin_scores


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def clusters(n_people: int = 6, per: int = 3, dim: int = 16, spread: float = 0.15, seed: int = 0):
    """(embeddings, labels, centres): ``per`` faces around each of n_people random unit centres."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((n_people, dim)))
    x = unit(np.repeat(centres, per, 0) + spread * rng.standard_normal((n_people * per, dim)) / np.sqrt(dim))
    labels = np.repeat([f"p{i}" for i in range(n_people)], per)
    return x, labels, centres


def test_closed_set_nearest_neighbour_and_shapes():
    x, y, centres = clusters()
    knn = KNNIdentifier().fit(x, y)
    assert knn.n_subjects_ == 6 and list(knn.classes_) == [f"p{i}" for i in range(6)]
    pred = knn.predict(centres)
    assert pred.shape == (6,) and list(pred) == list(knn.classes_)
    r = knn.identify(centres, n_candidates=3)
    assert isinstance(r, OpenSetPrediction) and len(r) == 6
    assert r.candidates.shape == (6, 3) and r.distances.shape == (6, 3) and r.scores.shape == (6,)
    assert np.all(np.diff(r.distances, axis=1) >= 0) and r.threshold is None and r.accepted.all()
    assert knn.score(centres, knn.classes_) == 1.0


def test_distances_match_brute_force():
    x, y, _ = clusters(n_people=5, per=4, seed=3)
    q = unit(np.random.default_rng(9).standard_normal((7, x.shape[1])))
    knn = KNNIdentifier(chunk_size=2).fit(x, y)  # several chunks
    d = ((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    r = knn.identify(q, n_candidates=5)
    for i in range(len(q)):
        per_subject = {s: d[i, y == s].min() for s in np.unique(y)}  # nearest face of each subject
        want = sorted(per_subject.items(), key=lambda kv: kv[1])
        assert list(r.candidates[i]) == [s for s, _ in want]
        np.testing.assert_allclose(r.distances[i], [v for _, v in want], atol=1e-5)
    dist, idx = knn.kneighbors(q, n_neighbors=4)
    np.testing.assert_allclose(dist, np.sort(d, 1)[:, :4], atol=1e-5)
    np.testing.assert_array_equal(idx, np.argsort(d, 1, kind="stable")[:, :4])
    assert knn.kneighbors(q, 2, return_distance=False).shape == (7, 2)


def test_unknown_rejection():
    x, y, centres = clusters(dim=128, seed=1)
    strangers = unit(np.random.default_rng(5).standard_normal((20, x.shape[1])))
    knn = KNNIdentifier(threshold=1.0, unknown_label="nobody").fit(x, y)
    assert list(knn.predict(centres)) == list(knn.classes_)
    assert (knn.predict(strangers) == "nobody").all()  # random 128-D directions are ~2.0 away
    r = knn.identify(strangers)
    assert not r.accepted.any() and (r.scores >= 1.0).all()
    assert r.candidates[0, 0] in knn.classes_  # the candidates are still listed
    top, scores = knn.predict_scores(strangers)
    assert top.shape == (20,) and np.allclose(scores, r.scores)
    both = np.concatenate([centres, strangers])
    truth = list(knn.classes_) + ["someone-else"] * 20  # labels that are not enrolled should be unknown
    assert knn.score(both, truth) == 1.0


def test_several_photos_per_person_are_kept():
    rng = np.random.default_rng(2)
    a_front, a_side, b = np.eye(16, dtype=np.float32)[:3]  # two very different photos of a
    x = np.stack([a_front, a_side, b])
    knn = KNNIdentifier(threshold=0.5).fit(x, ["a", "a", "b"])
    assert knn.embeddings_.shape == (3, 16)  # not averaged into one vector
    # a query near the side view is "a" at distance ~0, though far from the mean of a's photos
    q = unit(a_side + 0.01 * rng.standard_normal(16))[None]
    r = knn.identify(q, n_candidates=2)
    assert r.labels[0] == "a" and r.distances[0, 0] < 0.01
    mean_a = unit(a_front + a_side)  # an averaged gallery would reject it at this threshold
    assert ((q[0] - mean_a) ** 2).sum() > 0.5


def test_voting_with_k():
    # three faces of "a" slightly further than one face of "b": 1-NN says b, 3-NN votes a
    e = np.eye(4, dtype=np.float32)
    q = e[0]
    b = unit(q + 0.30 * e[1])
    a = unit(np.stack([q + 0.35 * e[2], q + 0.36 * e[3], q + 0.37 * e[2] + 0.01 * e[3]]))
    x, y = np.concatenate([b[None], a]), ["b", "a", "a", "a"]
    assert KNNIdentifier(k=1).fit(x, y).predict(q[None])[0] == "b"
    r = KNNIdentifier(k=3).fit(x, y).identify(q[None], n_candidates=2)
    assert r.labels[0] == "a" and list(r.candidates[0]) == ["a", "b"]


def test_margin_score_and_more_candidates_than_subjects():
    x, y, centres = clusters(n_people=4, seed=4)
    knn = KNNIdentifier(scoring="margin", margin_weight=0.5, cohort=10).fit(x, y)
    r = knn.identify(centres, n_candidates=6)
    assert r.candidates.shape == (4, 6) and (r.candidates[:, 4:] == None).all()  # noqa: E711
    assert np.isinf(r.distances[:, 4:]).all()
    np.testing.assert_allclose(r.scores, margin_scores(r.distances[:, :4], 0.5, 10))


def test_auto_threshold_follows_the_gallery_size():
    model = ImpostorModel.shipped("sface")
    small, big = clusters(n_people=3, dim=128), clusters(n_people=60, dim=128)
    t_small = KNNIdentifier(threshold="auto").fit(small[0], small[1]).threshold_
    t_big = KNNIdentifier(threshold="auto").fit(big[0], big[1]).threshold_
    assert t_small > t_big
    assert t_big == pytest.approx(identification_threshold(60, 1e-2, model, faces_per_subject=3))
    t_m = KNNIdentifier(threshold="auto", scoring="margin", fpir=1e-3).fit(big[0], big[1]).threshold_
    assert t_m == pytest.approx(identification_threshold(60, 1e-3, model, scoring="margin", faces_per_subject=3))


def test_calibrate_on_development_queries():
    x, y, centres = clusters(seed=6)
    strangers = unit(np.random.default_rng(7).standard_normal((200, x.shape[1])))
    knn = KNNIdentifier().fit(x, y).calibrate(strangers, ["unknown"] * 200, fpir=0.05)
    assert knn.calibration_["n_nonmated"] == 200
    assert np.mean(knn.identify(strangers).accepted) <= 0.05
    with pytest.raises(ValueError, match="needs non-mated queries"):
        knn.calibrate(centres, knn.classes_)


def test_svm_identifier():
    x, y, centres = clusters(n_people=5, per=4, spread=0.3, seed=8)
    strangers = unit(np.random.default_rng(3).standard_normal((50, x.shape[1])))
    svm = SVMIdentifier(C=10.0).fit(x, y)
    assert list(svm.predict(centres)) == list(svm.classes_)
    assert svm.decision_function(centres).shape == (5, 5)
    r = svm.identify(centres, n_candidates=7)
    assert r.candidates.shape == (5, 7) and (r.candidates[:, 5:] == None).all()  # noqa: E711
    assert np.all(np.diff(r.distances[:, :5], axis=1) >= 0) and np.isinf(r.distances[:, 5:]).all()
    assert np.allclose(r.scores, -svm.decision_function(centres).max(1))
    svm.calibrate(strangers, ["x"] * 50, fpir=0.02)
    assert np.mean(svm.identify(strangers).accepted) <= 0.02
    assert (svm.predict(centres) != "unknown").mean() >= 0.8
    two = SVMIdentifier().fit(x[:8], y[:8])  # two subjects: the binary decision becomes two columns
    assert two.decision_function(centres[:2]).shape == (2, 2) and list(two.predict(centres[:2])) == ["p0", "p1"]


def test_parameter_and_input_messages():
    x, y, _ = clusters()
    with pytest.raises(ValueError, match="The 'k' parameter of KNNIdentifier must be an int in \\[1, inf\\). Got 0 instead."):
        KNNIdentifier(k=0).fit(x, y)
    with pytest.raises(ValueError, match="The 'scoring' parameter of KNNIdentifier must be one of 'distance', 'margin'"):
        KNNIdentifier(scoring="ratio").fit(x, y)
    with pytest.raises(ValueError, match="The 'threshold' parameter of KNNIdentifier must be one of 'auto'"):
        KNNIdentifier(threshold="automatic").fit(x, y)
    with pytest.raises(ValueError, match="'impostor_model' parameter of KNNIdentifier must be an ImpostorModel"):
        KNNIdentifier(impostor_model=3).fit(x, y)
    with pytest.raises(ValueError, match="one label per embedding \\(18\\). Got 2 instead"):
        KNNIdentifier().fit(x, ["a", "b"])
    with pytest.raises(ValueError, match="must not use the unknown label 'unknown'"):
        KNNIdentifier().fit(x[:2], ["unknown", "a"])
    with pytest.raises(ValueError, match="of shape \\(N, D\\). Got shape \\(16,\\)"):
        KNNIdentifier().fit(x[0], ["a"])
    with pytest.raises(ValueError, match="finite"):
        KNNIdentifier().fit(np.full((2, 4), np.nan), ["a", "b"])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        KNNIdentifier().predict(x)
    knn = KNNIdentifier().fit(x, y)
    with pytest.raises(ValueError, match="The 'X' parameter of KNNIdentifier must be an array of shape \\(N, 16\\)"):
        knn.predict(np.zeros((2, 8)))
    with pytest.raises(ValueError, match="'n_candidates' parameter of identify must be an int in \\[1, inf\\)"):
        knn.identify(x, n_candidates=0)
    with pytest.raises(ValueError, match="'n_neighbors' parameter of kneighbors must be an int in \\[1, 18\\]"):
        knn.kneighbors(x, n_neighbors=19)
    with pytest.raises(ValueError, match="The 'C' parameter of SVMIdentifier must be a float in \\(0, inf\\)"):
        SVMIdentifier(C=0).fit(x, y)
    with pytest.raises(ValueError, match="at least 2 subjects"):
        SVMIdentifier().fit(x[:3], ["a"] * 3)


def test_init_stores_arguments_only():
    knn = KNNIdentifier(k=0, scoring="nonsense")  # checked at fit, as scikit-learn does
    assert knn.k == 0 and not hasattr(knn, "classes_")
    assert SVMIdentifier(C=-1).C == -1


@pytest.mark.data
def test_real_photos_identify_and_reject(data_dir):
    """A few LFW photos: each person enrolled from one photo, found from another; a stranger is
    unknown at the automatic threshold."""
    from facenet.pipeline import FacePipeline

    lfw = data_dir / "lfw"
    people = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld"]
    enrol = [lfw / p / f"{p}_0001.jpg" for p in people]
    probe = [lfw / p / f"{p}_0002.jpg" for p in people]
    stranger = [lfw / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"]
    emb = FacePipeline("yunet", "sface").embed(enrol + probe + stranger)
    knn = KNNIdentifier(threshold="auto").fit(emb[:3], people)
    assert list(knn.predict(emb[3:6])) == people
    assert knn.predict(emb[6:])[0] == "unknown"
