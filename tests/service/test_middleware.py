"""The edge middleware on its own (ASGI calls, no server): a stalled body gets 408, a declared
Content-Length over the limit gets 413 before any of the body is read; the inference pool's
slots come back when a waiting call is cancelled."""

from __future__ import annotations

import asyncio
import json

from facenet.service.middleware import BodyLimitMiddleware


async def _call(mw, body_chunks, headers=(), delay=0.0):
    sent = []
    pending = list(body_chunks)
    reads = []

    async def receive():
        if delay:
            await asyncio.sleep(delay)
        chunk = pending.pop(0) if pending else b""
        reads.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "path": "/api/v1/detect", "headers": list(headers), "method": "POST"}
    await mw(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body) if body else None, reads


async def _reading_app(scope, receive, send):
    while True:
        msg = await receive()
        if not msg.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_stalled_body_is_408():
    mw = BodyLimitMiddleware(_reading_app, lambda path: 1000, timeout=0.05)
    status, body, _ = asyncio.run(_call(mw, [b"a", b"b"], delay=0.2))
    assert status == 408 and body["error"]["code"] == "request_timeout"


def test_declared_length_over_the_limit_is_refused_unread():
    mw = BodyLimitMiddleware(_reading_app, lambda path: 1000, timeout=5)
    status, body, reads = asyncio.run(_call(mw, [b"x" * 10], headers=[(b"content-length", b"5000")]))
    assert status == 413 and body["error"]["code"] == "payload_too_large" and reads == []


def test_chunks_over_the_limit_stop_the_read():
    mw = BodyLimitMiddleware(_reading_app, lambda path: 1000, timeout=5)
    status, body, reads = asyncio.run(_call(mw, [b"x" * 600] * 10))
    assert status == 413 and len(reads) == 2  # refused at the chunk that crossed the limit


def test_a_body_under_the_limit_passes():
    mw = BodyLimitMiddleware(_reading_app, lambda path: 1000, timeout=5)
    status, _, reads = asyncio.run(_call(mw, [b"x" * 300] * 3))
    assert status == 200 and len(reads) == 3


def test_pool_slot_returns_after_a_timeout_while_queued():
    import threading

    from facenet.service.errors import ApiError
    from facenet.service.pool import InferencePool

    pool = InferencePool(lambda: None, workers=1, queue=1, timeout=0.1)
    gate = threading.Event()

    async def scenario():
        first = asyncio.ensure_future(pool.run(lambda p: gate.wait(5)))
        await asyncio.sleep(0.02)
        try:
            await pool.run(lambda p: 1)  # waits behind the first, times out, is cancelled
        except ApiError as exc:
            assert exc.code == "timeout"
        try:
            await first
        except ApiError:
            pass
        gate.set()
        for _ in range(100):
            if pool.in_use() == 0:
                break
            await asyncio.sleep(0.02)
        return await pool.run(lambda p: 42)

    try:
        assert asyncio.run(scenario()) == 42
        assert pool.in_use() == 0
    finally:
        gate.set()
        pool.close()
