"""The service over a ``postgresql://`` gallery (a real embedded PostgreSQL 18 + pgvector
server, as in the gallery tests): enrol, identify, thumbnails, rename."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gallery"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest_pg import pg_server_url, pg_url  # noqa: E402,F401
from service_helpers import PEOPLE, upload  # noqa: E402

pytestmark = [pytest.mark.data, pytest.mark.slow]


def test_service_on_postgres(make_api, pg_url, photo, tmp_path):  # noqa: F811
    a = make_api(gallery=pg_url, thumbnails=tmp_path / "thumbs")
    for person in PEOPLE[:3]:
        r = a.post(f"/api/v1/subjects/{person}/faces", scope="enrol", files=upload(photo(person, 1)))
        assert r.status_code == 201, r.text
    r = a.post("/api/v1/identify", files=upload(photo(PEOPLE[1], 2))).json()
    assert r["faces"][0]["name"] == PEOPLE[1]
    subjects = a.get("/api/v1/subjects").json()
    assert [s["name"] for s in subjects] == sorted(PEOPLE[:3])
    assert a.get(subjects[0]["faces"][0]["thumbnail_url"]).status_code == 200
    assert a.patch(f"/api/v1/subjects/{PEOPLE[0]}", json={"name": "Renamed"}).status_code == 200
    assert a.post("/api/v1/identify", files=upload(photo(PEOPLE[0], 2))).json()["faces"][0]["name"] == "Renamed"
    assert a.delete(f"/api/v1/subjects/{PEOPLE[2]}").status_code == 200
