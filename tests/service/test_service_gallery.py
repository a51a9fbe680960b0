"""The service's gallery steps: the face picked by a box (detect.nms.iou, the IoU the old
service-only box_iou computed), enrolment recording the pipeline's model explicitly, and removals
that the gallery's index follows without a rebuild."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_helpers import upload  # noqa: E402

from facenet.service.errors import ApiError  # noqa: E402
from facenet.service.service import pick_face  # noqa: E402


def old_box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The service's former IoU of one box (4,) against (K, 4), kept here as the reference."""
    x1, y1 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x2, y2 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda x: np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def test_pick_face_by_box_matches_the_former_iou():
    from facenet.detect.nms import iou

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 300, size=(40, 2))
    boxes = np.hstack([xy, xy + rng.uniform(0, 80, size=(40, 2))]).astype(np.float32)
    boxes[3, 2:] = boxes[3, :2]  # an empty box
    for _ in range(30):
        p = rng.uniform(0, 300, 2)
        box = np.array([*p, *(p + rng.uniform(1, 120, 2))], np.float32)
        want = old_box_iou(box, boxes)
        np.testing.assert_allclose(iou(box[None].astype(np.float64), boxes)[0], want, atol=1e-6)
        if want.max() > 0:
            assert pick_face(boxes, None, tuple(box)) == int(np.argmax(want))
        else:
            with pytest.raises(ApiError, match="no detected face overlaps"):
                pick_face(boxes, None, tuple(box))


def test_enrolment_records_the_pipeline_model_and_removal_does_not_rebuild(api, photo, pipeline, monkeypatch):
    import facenet.gallery.index as index_module
    from facenet.gallery.gallery import identity_of
    from facenet.gallery.index import IndexOptions

    made: list[int] = []
    real = index_module.build_state
    monkeypatch.setattr(index_module, "build_state", lambda ids, *a, **kw: made.append(len(ids)) or real(ids, *a, **kw))
    ids = [api.post(f"/api/v1/subjects/{name}/faces", scope="enrol", files=upload(photo(person, i))).json()["face_id"]
           for name, person, i in (("Al", "Al_Gore", 1), ("Al", "Al_Gore", 2), ("Aaron", "Aaron_Peirsol", 1))]
    gallery = api.service.gallery
    assert {f.model for f in gallery.store.faces()} == {identity_of(pipeline)}
    gallery._index().options = IndexOptions(max_removed_share=0.5)  # one face of three may stay masked
    assert api.delete(f"/api/v1/subjects/Al/faces/{ids[0]}", scope="enrol").status_code == 200
    assert api.patch("/api/v1/subjects/Aaron", json={"name": "Aaron P"}).status_code == 200
    got = api.post("/api/v1/identify", files=upload(photo("Aaron_Peirsol", 2))).json()["faces"][0]
    assert got["name"] == "Aaron P"
    index = gallery._index()
    assert made == [] and index.describe()["removed"] == 1 and len(index) == 2, "followed, not rebuilt"
