"""The web page of the service: ``/`` (the single page) and ``/static/...`` (its CSS and JS modules),
served from the package's ``static/`` folder (package data; no build step, nothing from the internet).

``create_app`` calls :func:`mount_pages` once, after the API routes::

    from facenet.service.pages import mount_pages
    mount_pages(app)

The page itself needs no key: it asks for one, keeps it in ``sessionStorage`` and sends it as
``Authorization: Bearer <key>`` on every ``/api/v1`` call (thumbnails too, fetched as blobs). Its
responses carry a strict Content-Security-Policy (scripts, styles and connections from this origin
only; images also from ``blob:``), ``X-Content-Type-Options: nosniff`` and no framing.
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def static_dir() -> Any:
    """The package's static folder (a Traversable: a real directory for an installed package)."""
    return files("facenet.service").joinpath("static")


def mount_pages(app: FastAPI) -> None:
    """Add ``GET /`` (index.html) and the ``/static`` mount to ``app``; neither needs a key, and
    neither appears in the OpenAPI schema. Call it once, after the API routes are added."""
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.responses import Response

    class _Static(StaticFiles):
        def file_response(self, *args: Any, **kwargs: Any) -> Response:
            response = super().file_response(*args, **kwargs)
            response.headers.update(PAGE_HEADERS)
            return response

    index = static_dir().joinpath("index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(index, headers={**PAGE_HEADERS, "Cache-Control": "no-cache"})

    app.mount("/static", _Static(packages=[("facenet.service", "static")]), name="static")
