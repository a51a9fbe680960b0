"""Every error status of the service, in its one JSON shape, never a stack trace: bad uploads
(0 bytes, text, a bomb, an oversized body), validation, unknown routes, a full pool, a timeout,
an unexpected exception."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_helpers import MULTIPART_HEAD, bomb_png, encode, upload  # noqa: E402

pytestmark = pytest.mark.data


def error_of(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "status"}
    assert body["error"]["status"] == status
    assert "Traceback" not in r.text and 'File "' not in r.text
    return body["error"]


def test_zero_byte_upload_is_400(api):
    assert error_of(api.post("/api/v1/identify", files=upload(b"")), 400)["code"] == "empty_upload"


def test_text_file_is_415_whatever_its_name_or_type_says(api):
    e = error_of(api.post("/api/v1/detect", files=upload(b"hello, not an image\n" * 10, "face.jpg", ctype="image/jpeg")), 415)
    assert e["code"] == "unsupported_media_type"


def test_type_comes_from_the_bytes_not_the_name(api, photo):
    r = api.post("/api/v1/detect", files=upload(photo("Al_Gore", 1), "notes.txt", ctype="text/plain"))
    assert r.status_code == 200 and len(r.json()["faces"]) == 1


def test_corrupt_image_is_400(api, photo):
    data = photo("Al_Gore", 1)[:300]  # a JPEG cut short
    assert error_of(api.post("/api/v1/detect", files=upload(data)), 400)["code"] == "invalid_image"


@pytest.mark.parametrize("side", [100_000, 8_000])  # past Pillow's own bomb limit, and only past ours
def test_decompression_bomb_is_413_before_decoding(api, side):
    data = bomb_png(side, side)
    assert len(data) < 200
    e = error_of(api.post("/api/v1/identify", files=upload(data, "bomb.png", ctype="image/png")), 413)
    assert e["code"] == "too_many_pixels"


def test_oversized_body_is_413(make_api):
    a = make_api(max_upload_bytes=50_000)
    big = encode(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    assert len(big) > 50_000
    assert error_of(a.post("/api/v1/detect", files=upload(big, "big.png")), 413)["code"] == "payload_too_large"


def test_oversized_body_without_length_is_cut_while_reading(make_api):
    a = make_api(max_upload_bytes=50_000)

    def chunks():  # a multipart upload of 100 x 10 kB, no Content-Length: the limit is found while reading
        yield MULTIPART_HEAD
        for _ in range(100):
            yield b"x" * 10_000

    r = a.post("/api/v1/detect", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert error_of(r, 413)["code"] == "payload_too_large"


def test_validation_errors_are_422(api, photo):
    assert error_of(api.post("/api/v1/identify"), 422)["code"] == "validation_error"  # no image
    e = error_of(api.post("/api/v1/identify", files=upload(photo("Al_Gore", 1)), data={"k": "0"}), 422)
    assert "k" in e["message"]
    assert error_of(api.post("/api/v1/subjects", scope="enrol", json={"nom": "x"}), 422)["code"] == "validation_error"
    assert error_of(api.post("/api/v1/subjects", scope="enrol", content=b"{not json", headers={"Content-Type": "application/json"}), 422)
    e = error_of(api.post("/api/v1/subjects/Al/faces", scope="enrol", files=upload(photo("Al_Gore", 1)), data={"box": "1,2,3"}), 422)
    assert "box" in e["message"]


def test_bad_name_is_refused(api, photo):
    r = api.post("/api/v1/subjects", scope="enrol", json={"name": "a\nb"})
    assert r.status_code in (400, 422) and r.json()["error"]["status"] == r.status_code


def test_unknown_route_and_method(api):
    assert error_of(api.get("/api/v1/nothing-here"), 404)["code"] == "not_found"
    assert error_of(api.client.put("/health"), 405)["code"] == "method_not_allowed"


def test_unexpected_exception_is_a_bare_500(api, photo, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(api.service, "identify", boom)
    e = error_of(api.post("/api/v1/identify", files=upload(photo("Al_Gore", 1))), 500)
    assert e == {"code": "internal_error", "message": "internal server error", "status": 500}
    assert api.get("/health", scope=None).status_code == 200  # still serving


def _blocking(api, monkeypatch):
    """Make identify block until the returned event is set; returns (started, release)."""
    started, release = threading.Event(), threading.Event()
    real = api.service.identify

    def slow(*a, **k):
        started.set()
        release.wait(10)
        return real(*a, **k)

    monkeypatch.setattr(api.service, "identify", slow)
    return started, release


def test_full_pool_is_429(make_api, photo, monkeypatch):
    a = make_api(workers=1, queue=0)
    started, release = _blocking(a, monkeypatch)
    first = {}
    t = threading.Thread(target=lambda: first.setdefault("r", a.post("/api/v1/identify", files=upload(photo("Al_Gore", 1)))))
    t.start()
    assert started.wait(10)
    r = a.post("/api/v1/identify", files=upload(photo("Al_Gore", 2)))
    release.set()
    t.join(10)
    assert error_of(r, 429)["code"] == "busy" and r.headers["retry-after"] == "1"
    assert first["r"].status_code == 200  # the call that held the pool finished normally
    assert a.post("/api/v1/identify", files=upload(photo("Al_Gore", 2))).status_code == 200  # the slot came back


def test_slow_inference_is_504(make_api, photo, monkeypatch):
    a = make_api(request_timeout=0.3)
    started, release = _blocking(a, monkeypatch)
    r = a.post("/api/v1/identify", files=upload(photo("Al_Gore", 1)))
    release.set()
    assert error_of(r, 504)["code"] == "timeout"
