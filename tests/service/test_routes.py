"""Every route of the service through the real app (FastAPI's TestClient), on real LFW photos."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_helpers import upload  # noqa: E402

pytestmark = pytest.mark.data


def test_health_needs_no_key(api):
    r = api.get("/health", scope=None)
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["model"] == "sface"


def test_models(api):
    body = api.get("/api/v1/models").json()
    assert body["pipeline"]["embedder"] == "sface" and body["pipeline"]["identity"]["embedding_size"] == 128
    assert "yunet" in body["detectors"] and any(m["name"] == "sface" for m in body["embedders"])


def test_openapi_lists_versioned_routes(api):
    paths = api.get("/openapi.json", scope=None).json()["paths"]
    for p in ("/api/v1/identify", "/api/v1/subjects/{name}/faces", "/api/v1/cluster/jobs", "/health"):
        assert p in paths
    docs = api.get("/docs", scope=None)
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()  # works with no internet
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in docs.text and api.get(asset, scope=None).status_code == 200


def test_detect(api, photo):
    r = api.post("/api/v1/detect", files=upload(photo("Al_Gore", 1)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"]) == (250, 250)
    assert len(body["faces"]) == 1
    f = body["faces"][0]
    x1, y1, x2, y2 = f["box"]
    assert 0 <= x1 < x2 <= 250 and 0 <= y1 < y2 <= 250 and 0 < f["score"] <= 1
    assert np.asarray(f["landmarks"]).shape == (5, 2)


def test_detect_group_photo_finds_both(api, group_photo):
    faces = api.post("/api/v1/detect", files=upload(group_photo, "g.png", ctype="image/png")).json()["faces"]
    assert len(faces) == 2
    assert sorted(f["box"][0] < 250 for f in faces) == [False, True]  # one face in each half


def test_embed_is_unit_norm_and_matches_the_library(api, photo, pipeline):
    data = photo("Adrien_Brody", 1)
    body = api.post("/api/v1/embed", files=upload(data)).json()
    assert body["model"]["model"] == "sface"
    e = np.asarray(body["faces"][0]["embedding"], np.float32)
    assert e.shape == (128,) and abs(np.linalg.norm(e) - 1) < 1e-4
    _, ref = pipeline.embed_all(data)
    np.testing.assert_allclose(e, ref[0], atol=1e-5)


def test_verify_same_and_different(api, photo):
    same = api.post("/api/v1/verify", files={"image_a": ("a.jpg", photo("Al_Gore", 1)), "image_b": ("b.jpg", photo("Al_Gore", 2))})
    diff = api.post("/api/v1/verify", files={"image_a": ("a.jpg", photo("Al_Gore", 1)), "image_b": ("b.jpg", photo("Adrien_Brody", 1))})
    assert same.status_code == diff.status_code == 200
    s, d = same.json(), diff.json()
    assert s["same"] is True and s["distance"] < s["threshold"]
    assert d["same"] is False and d["distance"] >= d["threshold"]
    assert len(s["face_a"]["box"]) == 4 and len(s["face_b"]["box"]) == 4


def test_verify_refuses_a_photo_without_a_face(api, photo):
    blank = np.full((120, 120, 3), 200, np.uint8)
    from service_helpers import encode

    r = api.post("/api/v1/verify", files={"image_a": ("a.jpg", photo("Al_Gore", 1)), "image_b": ("b.png", encode(blank))})
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_face"


def test_identify_unknown_then_known(api, photo):
    r = api.post("/api/v1/identify", files=upload(photo("Al_Gore", 2)))
    assert r.status_code == 200
    assert r.json()["faces"][0]["name"] is None  # empty gallery: unknown
    for i, person in enumerate(("Al_Gore", "Adrien_Brody", "Albert_Costa")):
        assert api.post(f"/api/v1/subjects/{person}/faces", scope="enrol", files=upload(photo(person, 1))).status_code == 201
    body = api.post("/api/v1/identify", files=upload(photo("Al_Gore", 2)), data={"k": "2"}).json()
    assert body["threshold"] > 0 and body["threshold_source"]
    face = body["faces"][0]
    assert face["name"] == "Al_Gore" and face["distance"] < body["threshold"]
    assert len(face["candidates"]) == 2 and face["candidates"][0]["name"] == "Al_Gore"
    assert face["candidates"][0]["distance"] <= face["candidates"][1]["distance"]


def test_subjects_create_list_rename_merge_delete(api, photo):
    assert api.post("/api/v1/subjects", scope="enrol", json={"name": "Ada"}).status_code == 201
    r = api.post("/api/v1/subjects", scope="enrol", json={"name": "Ada"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "subject_exists"
    api.post("/api/v1/subjects/Al/faces", scope="enrol", files=upload(photo("Al_Gore", 1)))
    api.post("/api/v1/subjects/Gore/faces", scope="enrol", files=upload(photo("Al_Gore", 2)))
    listed = {s["name"]: s for s in api.get("/api/v1/subjects").json()}
    assert set(listed) == {"Ada", "Al", "Gore"} and listed["Ada"]["n_faces"] == 0 and listed["Al"]["n_faces"] == 1
    assert listed["Al"]["faces"][0]["thumbnail_url"].startswith("/api/v1/faces/")

    assert api.patch("/api/v1/subjects/Ada", json={"name": "Ada L"}).status_code == 200
    assert api.patch("/api/v1/subjects/Nobody", json={"name": "X"}).status_code == 404
    r = api.patch("/api/v1/subjects/Al", json={"name": "Gore"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "subject_exists"

    r = api.post("/api/v1/subjects/Gore/merge", scope="enrol", json={"into": "Al"})
    assert r.status_code == 200 and r.json()["moved"] == 1
    listed = {s["name"]: s for s in api.get("/api/v1/subjects").json()}
    assert set(listed) == {"Ada L", "Al"} and listed["Al"]["n_faces"] == 2
    assert api.post("/api/v1/subjects/Gore/merge", scope="enrol", json={"into": "Al"}).status_code == 404

    assert api.delete("/api/v1/subjects/Al", scope="enrol").status_code == 403
    r = api.delete("/api/v1/subjects/Al", scope="admin")
    assert r.status_code == 200 and r.json()["faces"] == 2
    assert [s["name"] for s in api.get("/api/v1/subjects").json()] == ["Ada L"]
    assert api.delete("/api/v1/subjects/Al").status_code == 404


def test_add_face_choices_and_removal(api, photo, group_photo):
    g = upload(group_photo, "g.png", ctype="image/png")
    r = api.post("/api/v1/subjects/Aaron/faces", scope="enrol", files=g)
    assert r.status_code == 422 and r.json()["error"]["code"] == "several_faces"
    r = api.post("/api/v1/subjects/Aaron/faces", scope="enrol", files=g, data={"box": "0,0,250,250"})
    assert r.status_code == 201 and r.json()["box"][2] <= 250  # the face in the left half
    r = api.post("/api/v1/subjects/Gore/faces", scope="enrol", files=g, data={"face": "5"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_such_face"
    right = next(i for i in range(2)
                 if api.post("/api/v1/detect", files=g).json()["faces"][i]["box"][0] > 250)
    r = api.post("/api/v1/subjects/Gore/faces", scope="enrol", files=g, data={"face": str(right)})
    assert r.status_code == 201
    face_id = r.json()["face_id"]
    # the group photo's right face is Al Gore: a separate photo of him is identified as "Gore"
    assert api.post("/api/v1/identify", files=upload(photo("Al_Gore", 3))).json()["faces"][0]["name"] == "Gore"
    again = api.post("/api/v1/subjects/Gore/faces", scope="enrol", files=g, data={"face": str(right)})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_enrolled"

    assert api.delete(f"/api/v1/subjects/Aaron/faces/{face_id}", scope="enrol").status_code == 404  # not Aaron's
    assert api.delete(f"/api/v1/subjects/Gore/faces/{face_id}", scope="enrol").status_code == 200
    assert api.get(f"/api/v1/faces/{face_id}/thumbnail").status_code == 404
    assert {s["name"]: s["n_faces"] for s in api.get("/api/v1/subjects").json()} == {"Aaron": 1, "Gore": 0}


def test_thumbnail_is_a_112px_jpeg(api, photo):
    import io

    from PIL import Image

    fid = api.post("/api/v1/subjects/Al/faces", scope="enrol", files=upload(photo("Al_Gore", 1))).json()["face_id"]
    r = api.get(f"/api/v1/faces/{fid}/thumbnail")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    img = Image.open(io.BytesIO(r.content))
    assert img.format == "JPEG" and img.size == (112, 112)
    assert api.get("/api/v1/faces/99999/thumbnail").json()["error"]["code"] == "thumbnail_not_found"


def test_enrolled_faces_survive_a_restart(make_api, photo, tmp_path):
    a = make_api()
    fid = a.post("/api/v1/subjects/Al/faces", scope="enrol", files=upload(photo("Al_Gore", 1))).json()["face_id"]
    cfg = a.service.config
    a.close()  # shut the first app down (closes its gallery)
    b = make_api(gallery=cfg.gallery)
    assert [s["name"] for s in b.get("/api/v1/subjects").json()] == ["Al"]
    assert b.get(f"/api/v1/faces/{fid}/thumbnail").status_code == 200
