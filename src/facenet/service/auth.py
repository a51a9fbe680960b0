"""API-key checks as FastAPI dependencies: ``Depends(require("enrol"))``. The key comes in
``Authorization: Bearer <key>`` or ``X-API-Key``; 401 without a valid key, 403 when its scope
is too low."""

from __future__ import annotations

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
        return found

    return dependency
