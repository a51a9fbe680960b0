"""The API docs at ``/docs``: Swagger UI served from the ``swagger-ui-bundle`` package's own files
(pinned, installed with the weight packages), never from a CDN, so the page works on a machine
with no internet. ReDoc (CDN only) is not offered; ``/openapi.json`` is the schema."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

ASSETS = "/docs-assets"


def swagger_dir() -> Path | None:
    """The folder holding swagger-ui-bundle.js and swagger-ui.css, or None when not installed."""
    try:
        vendor = Path(str(resources.files("swagger_ui_bundle") / "vendor"))
    except ModuleNotFoundError:
        return None
    found = sorted(p for p in vendor.glob("swagger-ui-*") if (p / "swagger-ui-bundle.js").is_file())
    return found[-1] if found else None


def mount_docs(app: Any) -> bool:
    """Add ``/docs`` (and its assets) to ``app``; False when Swagger UI's files are missing."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    folder = swagger_dir()
    if folder is None:
        return False
    app.mount(ASSETS, StaticFiles(directory=folder), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Any:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="facenet API",
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css", swagger_favicon_url="data:,")

    return True
