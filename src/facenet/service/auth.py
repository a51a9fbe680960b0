"""API-key checks as FastAPI dependencies: ``Depends(require("enrol"))``. The key comes in
``Authorization: Bearer <key>`` or ``X-API-Key``; 401 without a valid key, 403 when its scope
is too low."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from fastapi import Request

from facenet.service.errors import ApiError
from facenet.service.keys import ApiKey, scope_allows


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        kind, _, value = auth.partition(" ")
        if kind.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key else None


class RateLimiter:
    """At most ``per_minute`` requests per key in any 60 s (a token bucket per key id, refilled
    continuously); ``per_minute`` 0 lets everything through."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key_id: int) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0.0


def require(scope: str) -> Callable[[Request], ApiKey]:
    """A dependency that returns the request's key when it allows ``scope``."""

    def dependency(request: Request) -> ApiKey:
        service: Any = request.app.state.service
        key = presented_key(request)
        if not key:
            raise ApiError(401, "missing_api_key", "an API key is required (Authorization: Bearer <key> or X-API-Key)",
                           headers={"WWW-Authenticate": "Bearer"})
        found = service.keys.check(key)
        if found is None:
            raise ApiError(401, "invalid_api_key", "the API key is not valid (unknown or revoked)",
                           headers={"WWW-Authenticate": "Bearer"})
        if not scope_allows(found.scope, scope):
            raise ApiError(403, "insufficient_scope", f"this needs a key of scope {scope!r}; this key has {found.scope!r}")
        wait = service.limiter.allow(found.id)
        if wait > 0:
            raise ApiError(429, "rate_limited", f"more than {service.config.rate_limit} requests a minute with this key",
                           headers={"Retry-After": str(max(1, int(wait + 0.999)))})
        return found

    return dependency
