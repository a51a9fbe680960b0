"""API keys: required on every route but /health and the page, stored only as hashes, scopes
ordered read < enrol < admin, revocation effective at once; cross-origin requests refused
unless allowed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_helpers import upload  # noqa: E402

from facenet.service.keys import KeyStore, hash_key, scope_allows

#: (method, path, the scope it needs) for every /api/v1 route.
ROUTES = [("get", "/api/v1/models", "read"), ("post", "/api/v1/detect", "read"), ("post", "/api/v1/embed", "read"),
          ("post", "/api/v1/verify", "read"), ("post", "/api/v1/identify", "read"), ("get", "/api/v1/subjects", "read"),
          ("post", "/api/v1/subjects", "enrol"), ("patch", "/api/v1/subjects/x", "enrol"),
          ("post", "/api/v1/subjects/x/merge", "enrol"), ("delete", "/api/v1/subjects/x", "admin"),
          ("post", "/api/v1/subjects/x/faces", "enrol"), ("delete", "/api/v1/subjects/x/faces/1", "enrol"),
          ("get", "/api/v1/faces/1/thumbnail", "read"), ("post", "/api/v1/cluster/jobs", "enrol"),
          ("get", "/api/v1/cluster/jobs/abc", "read"), ("get", "/api/v1/cluster/jobs/abc/faces/k/thumbnail", "read"),
          ("post", "/api/v1/cluster/jobs/abc/clusters/1/name", "enrol"),
          ("post", "/api/v1/cluster/jobs/abc/clusters/1/merge", "enrol"),
          ("post", "/api/v1/cluster/jobs/abc/clusters/1/split", "enrol"),
          ("post", "/api/v1/cluster/jobs/abc/faces/k/move-out", "enrol")]


def test_keys_are_stored_only_as_hashes(tmp_path):
    store = KeyStore(tmp_path / "keys.db")
    record, key = store.create("enrol", "door")
    assert key.startswith("fn_") and len(key) > 40
    raw = (tmp_path / "keys.db").read_bytes()
    assert key.encode() not in raw and hash_key(key).encode() in raw
    assert (tmp_path / "keys.db").stat().st_mode & 0o077 == 0  # not readable by others
    assert store.check(key).id == record.id and store.check(key + "x") is None and store.check("") is None
    assert store.has_keys() and store.revoke(record.id) and not store.revoke(record.id)
    assert store.check(key) is None and not store.has_keys()
    with pytest.raises(ValueError, match="scope"):
        store.create("root")


def test_scope_order():
    assert scope_allows("admin", "read") and scope_allows("enrol", "enrol") and not scope_allows("read", "enrol")
    assert not scope_allows("enrol", "admin")


@pytest.mark.parametrize("method,path,scope", ROUTES)
def test_every_route_needs_a_key(api, method, path, scope):
    r = getattr(api.client, method)(path)
    assert r.status_code == 401, (path, r.text)
    assert r.json()["error"]["code"] == "missing_api_key" and r.headers["www-authenticate"] == "Bearer"
    r = getattr(api.client, method)(path, headers={"Authorization": "Bearer fn_wrong"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("method,path,scope", [r for r in ROUTES if r[2] != "read"])
def test_a_key_of_a_lower_scope_is_403(api, method, path, scope):
    lower = "read" if scope == "enrol" else "enrol"
    r = getattr(api.client, method)(path, headers={"Authorization": f"Bearer {api.keys[lower]}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"


def test_x_api_key_header_and_revocation(api):
    assert api.client.get("/api/v1/subjects", headers={"X-API-Key": api.keys["read"]}).status_code == 200
    store = api.service.keys
    kid = next(k.id for k in store.list() if k.scope == "read")
    store.revoke(kid)  # as `facenet keys revoke` does, from outside the running app
    r = api.client.get("/api/v1/subjects", headers={"X-API-Key": api.keys["read"]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_page_needs_no_key(api):
    r = api.client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]


def test_cross_origin_requests_are_refused(api, photo):
    r = api.client.get("/api/v1/subjects", headers={"Origin": "https://evil.example", "Authorization": f"Bearer {api.keys['read']}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    r = api.client.post("/api/v1/identify", files=upload(photo("Al_Gore", 1)),
                        headers={"Origin": "https://evil.example", "Authorization": f"Bearer {api.keys['read']}"})
    assert r.status_code == 403
    r = api.client.options("/api/v1/subjects", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    same = api.client.get("/api/v1/subjects", headers={"Origin": "http://testserver", "Authorization": f"Bearer {api.keys['read']}"})
    assert same.status_code == 200  # the page's own origin


def test_an_allowed_origin_gets_cors_headers(make_api):
    a = make_api(allow_origins=("https://app.example",))
    r = a.client.options("/api/v1/subjects", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
                                                       "Access-Control-Request-Headers": "authorization"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
    r = a.client.get("/api/v1/subjects", headers={"Origin": "https://app.example", "Authorization": f"Bearer {a.keys['read']}"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
    assert a.client.get("/api/v1/subjects", headers={"Origin": "https://other.example"}).status_code == 403


def test_rate_limit_per_key_is_429(make_api):
    a = make_api(rate_limit=3)
    codes = [a.get("/api/v1/subjects").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = a.get("/api/v1/subjects")
    assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
    assert a.get("/api/v1/subjects", scope="enrol").status_code == 200  # another key has its own budget
    assert a.get("/health", scope=None).status_code == 200
