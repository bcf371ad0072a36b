"""The ASGI application: Explore API v2.1 per portal, management API, OpenAPI docs.

``create_app(instance)`` builds everything from an ``Instance``, so tests can serve several
instances side by side and nothing lives in module globals.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from portail import __version__
from portail.api.catalog_exports import catalog_exports_router
from portail.api.errors import install_handlers
from portail.api.limits import BodyLimitMiddleware
from portail.api.explore import explore_router
from portail.api.management import management_router
from portail.api.openapi import install_openapi
from portail.api.v1 import v1_router
from portail.operations import Instance, open_instance

EXPLORE_PREFIX = "/api/explore/v2.1"


def create_app(instance: Instance | None = None) -> FastAPI:
    instance = instance or open_instance()
    app = FastAPI(
        title="Portail",
        version=__version__,
        description="Open data portal: Opendatasoft-compatible Explore API v2.1 and the management API.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/explore/v2.1/swagger.json",
    )
    app.state.instance = instance
    install_handlers(app)
    install_openapi(app)
    # Anonymous reads are open to every origin, as on Opendatasoft portals; no credentials.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"], allow_headers=["*"])
    app.add_middleware(BodyLimitMiddleware, limit=instance.settings.max_upload_bytes)
    app.include_router(explore_router("public"), prefix=EXPLORE_PREFIX)
    app.include_router(catalog_exports_router("public"), prefix=EXPLORE_PREFIX)
    app.include_router(v1_router())
    from portail.web import web_router

    app.include_router(web_router("public"))
    app.mount("/static", StaticFiles(directory=str(Path(__file__).resolve().parents[1] / "web" / "static")), name="static")
    app.include_router(management_router())

    @app.get("/api/health", include_in_schema=False)
    def health():
        return {"status": "ok", "version": __version__}

    return app
