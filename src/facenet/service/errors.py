"""The service's error shape: every failure is ``{"error": {"code", "message", "status"}}`` JSON
with the right HTTP status, never a stack trace.

:class:`ApiError` is a Starlette ``HTTPException`` on purpose: FastAPI lets those through its own
body-parsing ``except Exception`` (so a body cut off at the upload limit stays a 413, not a 400).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("facenet.service")

#: The code used for a bare HTTP status (Starlette's own 404/405, ...).
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 408: "request_timeout", 409: "conflict", 413: "payload_too_large",
                415: "unsupported_media_type", 422: "validation_error", 429: "too_many_requests",
                500: "internal_error", 503: "unavailable", 504: "timeout"}


class ApiError(StarletteHTTPException):
    """An error answered as JSON: ``status`` (int), ``code`` (snake_case, stable), ``message``."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=message, headers=dict(headers) if headers else None)
        self.code = code
        self.message = message


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, code, message), status_code=status, headers=dict(headers) if headers else None)


def from_facenet(exc: Exception) -> ApiError:
    """The API error for a facenet exception raised by the library (unknown subject, name taken,
    bad image, bad parameter, ...)."""
    from facenet.cluster.results import UnknownClusterError
    from facenet.errors import InvalidImageError, UncalibratedError
    from facenet.gallery.store import GalleryError, ModelMismatchError, SubjectExistsError, SubjectNotFoundError

    msg = " ".join(str(exc).split())
    if isinstance(exc, UnknownClusterError):
        return ApiError(404, "cluster_not_found", msg)
    if isinstance(exc, SubjectNotFoundError):
        return ApiError(404, "subject_not_found", msg)
    if isinstance(exc, SubjectExistsError):
        return ApiError(409, "subject_exists", msg)
    if isinstance(exc, ModelMismatchError):
        return ApiError(409, "model_mismatch", msg)
    if isinstance(exc, InvalidImageError):
        return ApiError(400, "invalid_image", exc.reason)
    if isinstance(exc, UncalibratedError):
        return ApiError(409, "uncalibrated", msg)
    if isinstance(exc, GalleryError):
        return ApiError(503, "gallery_unavailable", "the gallery cannot be used right now")
    return ApiError(400, "bad_request", msg)


def install_handlers(app: Any) -> None:
    """JSON handlers for ApiError / HTTP errors, request validation (422), facenet and ValueError
    (mapped by :func:`from_facenet`) and a catch-all that logs and answers a detail-free 500."""
    from fastapi.exceptions import RequestValidationError

    from facenet.errors import FacenetError

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, ApiError):
            return error_response(exc.status_code, exc.code, exc.message, exc.headers)
        code = STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, exc.headers)

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors()[:5]:  # the location and the rule, never the input echoed back
            loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path", "form"))
            parts.append(f"{loc or 'request'}: {e.get('msg', 'invalid')}")
        return error_response(422, "validation_error", "; ".join(parts) or "invalid request")

    async def library_error(request: Request, exc: Exception) -> JSONResponse:
        api = from_facenet(exc)
        return error_response(api.status_code, api.code, api.message)

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "internal server error")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(FacenetError, library_error)
    app.add_exception_handler(ValueError, library_error)
    app.add_exception_handler(Exception, internal_error)
