"""API errors, rendered in one place with Opendatasoft's JSON shape.

Endpoints raise these (or catalogue/ingest/ODSQL errors); ``install_handlers`` turns each
into ``{"error_code": …, "message": …}`` with the right status. Internal details (SQL, paths,
stack traces) never reach a response body.
"""

from __future__ import annotations

import re

import logging

import duckdb
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from portail.catalog.db import unique_violation
from starlette.exceptions import HTTPException as StarletteHTTPException

from portail.api.serialize import JSONAnswer
from portail.catalog.services import CatalogError
from portail.ingest.errors import IngestError, StorageFull, read_only, storage_full
from portail.store.engine import ResourceExhausted

log = logging.getLogger("portail.api")


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, message: str, headers: dict[str, str] | None = None, **extra):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers  # e.g. a 401's WWW-Authenticate
        self.extra = extra


def invalid_parameter(message: str) -> ApiError:
    return ApiError(400, "InvalidRESTParameterError", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NotFound", message)


def _body(code: str, message: str, **extra) -> dict:
    return {"error_code": code, "message": message, **extra}


#: The legacy v1 API's paths (under any portal prefix) and the dataset pages' download link
#: (``api.v1``): their clients (odsclient, the v1 widgets) read the message of an error as
#: ``json["error"]``.
_V1 = ("/api/records/1.0/", "/api/datasets/1.0/")
_DOWNLOAD_LINK = re.compile(r"/explore/dataset/[^/]+/download/$")


def _response(request: Request, status: int, code: str, message: str, headers=None, **extra) -> JSONAnswer:
    """An error in Opendatasoft's shape: ``{error_code, message}``, plus v1's ``error`` on v1
    paths (as the quota error carries both)."""
    body = _body(code, message, **extra)
    path = request.url.path if request.url.path.endswith("/") else request.url.path + "/"
    if any(prefix in path for prefix in _V1) or _DOWNLOAD_LINK.search(path):
        body = {"error": message, **body}
    return JSONAnswer(body, status_code=status, headers=headers)


#: How to make a query lighter, said with each refusal for want of memory.
_NARROWING = ("Narrow it: a where condition (in_bbox() or distance() around the area shown on a map, a "
              "refine), fewer groups (a lower geo_cluster() precision, fewer group_by fields), a smaller limit.")
#: Seconds a client waits before asking again a query refused because others shared the memory.
RETRY_AFTER = 5


def _exhausted_response(request: Request, error: ResourceExhausted) -> JSONAnswer:
    """A query the engine gave up for want of memory or spill space. Alone, it needs more than
    the server ever gives one query: a 400, as Opendatasoft refuses queries it will not run (a
    retry would fail again). Beside other queries it may fit once they end: a 503 with
    ``Retry-After``, which clients retry (portalkit, the odsclient of many scripts)."""
    if error.crowded:
        return _response(request, 503, "ServerBusy", "The server is busy: this query needs more memory than is "
                         f"free while other queries run. Try again in a few seconds. {_NARROWING}",
                         headers={"Retry-After": str(RETRY_AFTER)})
    return _response(request, 400, "QueryTooLarge",
                     f"This query needs more memory than the server gives one query. {_NARROWING}")


def _server_fault_response(request: Request, error: Exception) -> JSONAnswer | None:
    """The server's own storage refusing, said as the server's fault (never a 400, nor an
    anonymous 500): a full disk is a 507 (a 503 on a read), a read-only store (the catalogue's,
    mostly) a 503. Whatever failed, the published data is as it was. ``None``: not such a fault."""
    if (full := storage_full(error)) is not None:
        log.error("storage full on %s %s: %s", request.method, request.url.path, full)
        if request.method in ("GET", "HEAD"):  # a read (an export's temporary file): nothing was to be saved
            return _response(request, 503, "InsufficientStorage", "The server's temporary storage is full: this "
                             "answer could not be made. Try again later.")
        return _response(request, 507, "InsufficientStorage", "The server's storage is full: this change was not "
                         "saved. The data already published is unchanged.")
    if (refused := read_only(error)) is not None:
        log.error("storage read-only on %s %s: %s", request.method, request.url.path, refused)
        return _response(request, 503, "ReadOnlyStorage", "The server's storage is read-only at the moment: this "
                         "change was not saved. The data already published is unchanged.")
    return None


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, error: ApiError):
        return _response(request, error.status, error.error_code, error.message, headers=error.headers, **error.extra)

    @app.exception_handler(CatalogError)
    async def _catalog(request: Request, error: CatalogError):
        return _response(request, error.status, error.code, error.message)

    @app.exception_handler(IngestError)
    async def _ingest(request: Request, error: IngestError):
        # one raised while the disk filled (unpacking an archive…) is the server's fault too
        return _server_fault_response(request, error) or \
            JSONAnswer(_body("IngestError", error.describe(), detail=error.to_dict()), status_code=400)

    @app.exception_handler(ResourceExhausted)
    async def _exhausted(request: Request, error: ResourceExhausted):
        log.warning("query out of resources (%s) on %s: %s", error, request.url.path, error.__cause__)
        return _exhausted_response(request, error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        message = f"Invalid value for {where} API parameter: {first.get('msg', 'invalid')}"
        return _response(request, 400, "InvalidRESTParameterError", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException):
        if error.status_code == 404 and "/api/" not in request.url.path \
                and "text/html" in request.headers.get("accept", ""):
            from portail.web.routes import missing_page  # a browser on a mistyped address: a page

            return missing_page(request)
        code = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthorized", 403: "Forbidden"}.get(error.status_code, "HTTPError")
        message = error.detail if isinstance(error.detail, str) else "error"
        return _response(request, error.status_code, code, message, headers=error.headers)  # a 405's Allow

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, error: DataError):
        # A value the catalogue's database refused (PostgreSQL: a text longer than its column, a
        # NUL, a number out of range; SQLite takes them all). The request models and services
        # refuse each known case with its field and limit first; this one says what is wrong
        # without the SQL, never a 500.
        log.warning("value refused by the catalogue database on %s: %s", request.url.path, error.orig)
        return _response(request, 400, "InvalidRESTParameterError",
                         "A value sent cannot be stored: too long, out of range, or holding a NUL character.")

    @app.exception_handler(IntegrityError)
    async def _raced(request: Request, error: IntegrityError):
        # Two nodes (or two calls) making the same thing at once: each service checks that a
        # dataset id, login, group, grant or membership is free, then writes; the slower write
        # meets the unique constraint. The same answer as when the check sees it (a 409), not a
        # 500. Any other constraint (a CHECK, a NOT NULL) is a bug of ours: said as one.
        if not unique_violation(error):
            return await _unexpected(request, error)
        log.warning("concurrent change refused by the catalogue on %s: %s", request.url.path, error.orig)
        return _response(request, 409, "Conflict", "A concurrent request made the same change: it exists already.")

    async def _storage(request: Request, error: Exception):
        # The catalogue's driver, the file system, the engine, a load: a full disk or a read-only
        # store comes from any of them.
        return _server_fault_response(request, error) or await _unexpected(request, error)

    for kind in (StorageFull, OperationalError, OSError, duckdb.Error):
        app.add_exception_handler(kind, _storage)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _response(request, 500, "InternalError", "An internal error occurred.")
