"""The FastAPI app: ``create_app(config)`` builds one app around one :class:`Service` (no
module-level app or state; everything comes from the config passed in).

>>> from facenet.service.app import create_app
>>> from facenet.service.config import ServiceConfig
>>> app = create_app(ServiceConfig(gallery="people.gallery", keys="keys.db"))   # uvicorn.run(app)

OpenAPI schema at ``/openapi.json``, docs at ``/docs``; routes under ``/api/v1``; ``/health``
needs no key, nor does the web page (``/`` and ``/static``).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from facenet.service.config import ServiceConfig

API_PREFIX = "/api/v1"


def create_app(config: ServiceConfig, *, pipeline_factory: Callable[[], Any] | None = None,
               service: Any = None, pages: bool = True) -> Any:
    """A FastAPI app serving ``config``'s gallery.

    pipeline_factory: builds a pipeline (default: from the config and the gallery's own model);
        called once per inference thread. service: an already built :class:`Service` (tests).
    pages: also serve the web page (``/``, ``/static``) when it is installed.
    The Service is built here (the gallery opened, the model loaded) and closed at shutdown.
    """
    from fastapi import FastAPI
    from fastapi.middleware.cors import CORSMiddleware

    from facenet import __version__
    from facenet.service import routes_cluster, routes_gallery, routes_infer
    from facenet.service.docs import mount_docs
    from facenet.service.errors import install_handlers
    from facenet.service.middleware import BodyLimitMiddleware, OriginMiddleware
    from facenet.service.service import Service

    svc = service if service is not None else Service(config, pipeline_factory)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        svc.close()

    app = FastAPI(title="facenet", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Face detection, embeddings, verification, identification against a gallery, "
                              "enrolment and clustering. Every /api/v1 route needs an API key "
                              "(`facenet keys create --scope read|enrol|admin`), sent as `Authorization: Bearer <key>`.")
    app.state.service = svc
    install_handlers(app)

    @app.get("/health", tags=["service"], summary="Liveness (no key needed)")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "model": svc.identity.model}

    mount_docs(app)  # /docs from local Swagger UI files (no CDN)
    app.include_router(routes_infer.router)
    app.include_router(routes_gallery.router)
    app.include_router(routes_cluster.router)
    if pages:
        try:
            from facenet.service.pages import mount_pages
        except ImportError:  # the page is optional; the API works without it
            mount_pages = None
        if mount_pages is not None:
            mount_pages(app)

    def limit_for(path: str) -> int:
        if path.startswith(API_PREFIX + "/cluster/jobs"):
            return config.max_job_upload_bytes
        return config.max_upload_bytes

    # outermost first when read bottom-up: origin check, then CORS answers (only if allowed), then the body limit
    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for, timeout=config.body_timeout)
    if config.allow_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.allow_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(OriginMiddleware, allowed=config.allow_origins)
    return app
