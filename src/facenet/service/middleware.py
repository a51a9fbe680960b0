"""ASGI middleware at the edge of the app: the request-body limit (checked while the body is
read, chunk by chunk, and from Content-Length before any of it), a timeout between body chunks,
and the refusal of cross-origin requests from origins not allowed by ``--allow-origin``."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable

from facenet.service.errors import ApiError, error_body

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(status, code, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return v.decode("latin-1")
    return None


class BodyLimitMiddleware:
    """limit_for(path) -> the largest body accepted on that path (bytes). A body over it is
    refused with 413 as soon as the header says so or the chunk that crosses it arrives; a body
    whose next chunk takes more than ``timeout`` seconds gets 408."""

    def __init__(self, app: Any, limit_for: Callable[[str], int], timeout: float) -> None:
        self.app, self.limit_for, self.timeout = app, limit_for, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                n = int(declared)
            except ValueError:
                await send_error(send, 400, "bad_request", "invalid Content-Length header")
                return
            if n > limit:
                await send_error(send, 413, "payload_too_large", f"the request body is {n} bytes, more than the limit of {limit}")
                return
        seen = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen
            try:
                msg = await asyncio.wait_for(receive(), self.timeout)
            except asyncio.TimeoutError:
                raise ApiError(408, "request_timeout", f"the request body stalled for more than {self.timeout:g} s") from None
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise ApiError(413, "payload_too_large", f"the request body is more than the limit of {limit} bytes")
            return msg

        async def tracking_send(msg: dict[str, Any]) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except ApiError as exc:  # raised while reading the body, outside a route's handlers
            if started:
                raise
            await send_error(send, exc.status_code, exc.code, exc.message)


class OriginMiddleware:
    """Refuse (403) a request whose ``Origin`` header names another origin than the server's
    own, unless it is in ``allowed`` (which the CORS middleware then answers for)."""

    def __init__(self, app: Any, allowed: tuple[str, ...]) -> None:
        self.app, self.allowed = app, set(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            origin = _header(scope, b"origin")
            if origin is not None and origin.rstrip("/") not in self.allowed:
                host = _header(scope, b"host") or ""
                own = {f"http://{host}", f"https://{host}"}
                if origin.rstrip("/") not in own:
                    await send_error(send, 403, "origin_not_allowed",
                                     "cross-origin requests are refused (start the server with --allow-origin)")
                    return
        await self.app(scope, receive, send)
