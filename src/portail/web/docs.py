"""The OpenAPI documentation page (``/api/docs``): Swagger UI served from our own static path
(``swagger-ui-dist`` from npm, copied to ``static/vendor/`` at install), never from a CDN as
FastAPI's default page does. Without the package installed the page says how to get it."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from portail.web.routes import vendor_available

VENDOR = "/static/vendor/swagger-ui-dist"
# A one-pixel transparent icon: the default favicon would be fetched from FastAPI's site.
FAVICON = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="


def install_docs(app: FastAPI, path: str = "/api/docs") -> None:
    """Serve Swagger UI over ``app.openapi_url`` at ``path`` (create the app with ``docs_url=None``)."""

    @app.get(path, include_in_schema=False)
    def docs() -> HTMLResponse:
        if not vendor_available("swagger-ui-dist/swagger-ui-bundle.js"):
            return HTMLResponse(f'<!doctype html><html lang="en"><title>API documentation</title><p>Swagger UI is not '
                                f'installed (run <code>make install</code>); the OpenAPI description is at '
                                f'<a href="{app.openapi_url}">{app.openapi_url}</a>.</p></html>')
        page = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} — API",
                                   swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{VENDOR}/swagger-ui.css", swagger_favicon_url=FAVICON)
        return with_language(page)


def with_language(page: HTMLResponse) -> HTMLResponse:
    """FastAPI's Swagger page as English, which Swagger UI writes: its ``<html>`` names no
    language (WCAG 3.1.1), so a screen reader set to French read the English with French sounds."""
    body = page.body.replace(b"<html>", b'<html lang="en">', 1)
    return HTMLResponse(body, status_code=page.status_code)
