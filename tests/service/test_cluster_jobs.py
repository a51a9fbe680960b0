"""Cluster jobs through the app: uploaded photos and a server-side folder under a --photos root
(and nothing outside it: no '..', no absolute path, no symlink out), progress, the result with
thumbnails, naming a cluster (which enrols it), merging, moving a face out, splitting."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_helpers import PEOPLE, upload  # noqa: E402

pytestmark = pytest.mark.data

TRIO = PEOPLE[:3]
#: A fixed clustering threshold (squared L2), so these tests do not depend on the shipped calibration.
THRESHOLD = 1.2


def wait_done(api, job_id: str, timeout: float = 120.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        body = api.get(f"/api/v1/cluster/jobs/{job_id}").json()
        if body["state"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError("cluster job did not finish")


def start_upload(api, photo, extra: list | None = None):
    files = [("images", (f"{p}_{i}.jpg", photo(p, i), "image/jpeg")) for p in TRIO for i in (1, 2, 3)]
    return api.post("/api/v1/cluster/jobs", scope="enrol", files=files + (extra or []))


def cluster_of(result: dict, prefix: str) -> dict:
    """The cluster holding most photos whose upload name starts with ``prefix``."""
    return max(result["clusters"], key=lambda c: sum(f["photo"].startswith(prefix) for f in c["faces"]))


def test_upload_job_review_and_enrol(make_api, photo):
    api = make_api(cluster_threshold=THRESHOLD)
    r = start_upload(api, photo, [("images", ("notes.jpg", b"not a photo", "image/jpeg"))])
    assert r.status_code == 202, r.text
    job = wait_done(api, r.json()["job_id"])
    assert job["state"] == "done", job
    assert job["progress"]["done"] == job["progress"]["total"] >= 9
    res = job["result"]
    assert res["n_photos"] == 9 and res["n_faces"] == 9
    assert any(f["path"] == "notes.jpg" and f["error"] == "not an image" for f in res["failed"])
    assert "cache" not in res["settings"] and "out" not in res  # no server paths
    assert all("/" not in f["photo"] for c in res["clusters"] for f in c["faces"])  # the names the client sent
    for person in TRIO:  # each person's three photos in one cluster of their own
        c = cluster_of(res, person)
        assert sorted(f["photo"] for f in c["faces"]) == [f"{person}_{i}.jpg" for i in (1, 2, 3)]
    face = res["clusters"][0]["faces"][0]
    t = api.get(face["thumbnail_url"])
    assert t.status_code == 200 and t.headers["content-type"] == "image/jpeg" and t.content[:3] == b"\xff\xd8\xff"

    jid = job["job_id"]
    target = cluster_of(res, TRIO[0])
    r = api.post(f"/api/v1/cluster/jobs/{jid}/clusters/{target['id']}/name", scope="enrol", json={"name": "Aaron"})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 3 and len(r.json()["face_ids"]) == 3
    subjects = {s["name"]: s for s in api.get("/api/v1/subjects").json()}
    assert subjects["Aaron"]["n_faces"] == 3
    assert all(api.get(f["thumbnail_url"]).status_code == 200 for f in subjects["Aaron"]["faces"])
    ident = api.post("/api/v1/identify", files=upload(photo(TRIO[0], 4))).json()
    assert ident["faces"][0]["name"] == "Aaron"
    named = api.get(f"/api/v1/cluster/jobs/{jid}").json()["result"]
    assert next(c for c in named["clusters"] if c["id"] == target["id"])["name"] == "Aaron"

    a, b = cluster_of(res, TRIO[1]), cluster_of(res, TRIO[2])
    r = api.post(f"/api/v1/cluster/jobs/{jid}/clusters/{a['id']}/merge", scope="enrol", json={"into": b["id"]})
    assert r.status_code == 200 and r.json()["size"] == 6
    after = api.get(f"/api/v1/cluster/jobs/{jid}").json()["result"]
    assert a["id"] not in [c["id"] for c in after["clusters"]]
    assert api.post(f"/api/v1/cluster/jobs/{jid}/clusters/{b['id']}/merge", scope="enrol", json={"into": b["id"]}).status_code == 422
    assert api.post(f"/api/v1/cluster/jobs/{jid}/clusters/999/merge", scope="enrol", json={"into": b["id"]}).status_code == 404

    key = b["faces"][0]["key"]
    r = api.post(f"/api/v1/cluster/jobs/{jid}/faces/{key}/move-out", scope="enrol")
    assert r.status_code == 200 and r.json()["from"] == b["id"]
    after = api.get(f"/api/v1/cluster/jobs/{jid}").json()["result"]
    assert key in [f["key"] for f in after["unclustered"]]
    assert key not in [f["key"] for c in after["clusters"] for f in c["faces"]]
    assert api.post(f"/api/v1/cluster/jobs/{jid}/faces/nope:0/move-out", scope="enrol").status_code == 404

    # b now holds 3 photos of one person and 2 of the other: split it back into the two people
    assert api.post(f"/api/v1/cluster/jobs/{jid}/clusters/{b['id']}/split", scope="enrol",
                    json={"min_size": 3}).status_code == 422
    r = api.post(f"/api/v1/cluster/jobs/{jid}/clusters/{b['id']}/split", scope="enrol")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["cluster"] == b["id"] and (d["size"], d["new_size"]) == (3, 2) and d["gap"] > 0.3
    after = {c["id"]: c for c in api.get(f"/api/v1/cluster/jobs/{jid}").json()["result"]["clusters"]}
    for cid in (d["cluster"], d["new"]):
        assert len({f["photo"].rsplit("_", 1)[0] for f in after[cid]["faces"]}) == 1  # one person each
    assert api.post(f"/api/v1/cluster/jobs/{jid}/clusters/999/split", scope="enrol").status_code == 404


def test_job_errors(make_api, photo):
    a = make_api(max_images=2, cluster_threshold=THRESHOLD)
    assert a.get("/api/v1/cluster/jobs/0123456789abcdef").json()["error"]["code"] == "job_not_found"
    r = start_upload(a, photo)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_images"
    r = a.post("/api/v1/cluster/jobs", scope="enrol", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = a.post("/api/v1/cluster/jobs", scope="enrol", json={"folder": "x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "no_photo_roots"
    r = a.post("/api/v1/cluster/jobs", scope="enrol", json={"nothing": 1})
    assert r.status_code == 422
    r = a.post("/api/v1/cluster/jobs", scope="enrol", files=[("images", ("a.txt", b"hello", "text/plain"))])
    assert r.status_code == 202 and wait_done(a, r.json()["job_id"])["state"] == "failed"


@pytest.fixture
def photo_roots(tmp_path, lfw_dir):
    """A --photos root holding one person's photos (and a symlink to a photo outside it), and
    a folder outside the root."""
    root = tmp_path / "photos"
    (root / "trip").mkdir(parents=True)
    outside = tmp_path / "private"
    outside.mkdir()
    for i in (1, 2):
        (root / "trip" / f"{i}.jpg").write_bytes((lfw_dir / TRIO[0] / f"{TRIO[0]}_{i:04d}.jpg").read_bytes())
    (outside / "secret.jpg").write_bytes((lfw_dir / TRIO[1] / f"{TRIO[1]}_0001.jpg").read_bytes())
    os.symlink(outside / "secret.jpg", root / "trip" / "link.jpg")
    os.symlink(outside, root / "escape")
    return root, outside


def test_folder_job_stays_under_the_roots(make_api, photo_roots):
    root, outside = photo_roots
    a = make_api(photos=(root,), cluster_threshold=THRESHOLD)
    for bad, status in (("../private", 400), ("/etc", 400), ("trip/../../private", 400), ("escape", 404),
                        ("missing", 404), ("trip\\..\\..", 400)):
        r = a.post("/api/v1/cluster/jobs", scope="enrol", json={"folder": bad})
        assert r.status_code == status, (bad, r.text)
    r = a.post("/api/v1/cluster/jobs", scope="enrol", json={"folder": "trip"})
    assert r.status_code == 202, r.text
    job = wait_done(a, r.json()["job_id"])
    assert job["state"] == "done", job
    res = job["result"]
    photos = sorted(f["photo"] for c in res["clusters"] for f in c["faces"]) + [f["photo"] for f in res["unclustered"]]
    assert sorted(photos) == ["trip/1.jpg", "trip/2.jpg"]  # the symlink out was not followed
    assert any("outside" in f["error"] for f in res["failed"])
