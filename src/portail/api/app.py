"""The ASGI application: Explore API v2.1 per portal, management API, OpenAPI docs.

``create_app(instance)`` builds everything from an ``Instance``, so tests can serve several
instances side by side and nothing lives in module globals.

Each portal of ``settings.portals`` gets the whole public face under its path prefix: the
Explore API and catalogue exports (``<prefix>api/explore/v2.1/…``), the v1 API and the web
pages, each router knowing its portal id (a dataset appears where its ``portals`` list says).
A private portal's routers carry ``deps.portal_gate``: anonymous callers get a 401 from the
APIs and a redirect to ``<prefix>login`` from the pages. A portal with a ``hostname`` is also
served at the root of that host (``PortalHostMiddleware`` maps the path onto its prefix).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from portail import __version__, odsql
from portail.api.catalog_exports import catalog_exports_router
from portail.api.deps import LoginRequired, login_redirect, portal_gate
from portail.api.errors import install_handlers
from portail.api.limits import BodyLimitMiddleware
from portail.api.explore import explore_router
from portail.api.explore_v20 import V20_PREFIXES, explore_router as explore_v20_router
from portail.api.guard import Guard
from portail.api.accounts import accounts_router
from portail.api.management import management_router
from portail.api.openapi import install_openapi
from portail.api.serialize import JSONAnswer
from portail.api.v1 import v1_router
from portail.auth.operator import management_token
from portail.config import Portal
from portail.operations import SETTLE_EVERY, Instance, current_locations, open_instance, settled_stamp

EXPLORE_PREFIX = "/api/explore/v2.1"
EXPOSED_HEADERS = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After",
                   "Ods-Explore-Api-Deprecation", "Content-Disposition", "ODS-Analyze-Truncated"]


def create_app(instance: Instance | None = None) -> FastAPI:
    instance = instance or open_instance()
    app = FastAPI(
        title="Portail",
        version=__version__,
        description="Open data portal: Opendatasoft-compatible Explore API v2.1 and the management API.",
        docs_url=None,  # web.docs serves Swagger UI from our static path, not a CDN
        redoc_url=None,
        openapi_url="/api/explore/v2.1/swagger.json",
        lifespan=_warm_on_start,
        default_response_class=JSONAnswer,
    )
    app.state.instance = instance
    app.state.management_token = management_token(instance.settings)  # generated on first start

    # First of the routes, which are tried in order: load balancers call it every few seconds,
    # and behind the ~120 routes of two portals its matching cost more than the answer.
    @app.get("/api/health", include_in_schema=False)
    async def health():
        return {"status": "ok", "version": __version__}

    install_handlers(app)
    install_openapi(app)
    from portail.web.docs import install_docs

    install_docs(app)
    app.add_middleware(HeadAsGetMiddleware)  # innermost: quotas and CORS see the HEAD as it came
    app.add_middleware(Guard)  # caller once per request, CSRF, quotas (api/guard.py); inside CORS, so a 429 carries its headers
    # Anonymous reads are open to every origin, as on Opendatasoft portals; no credentials. Browser
    # clients may read the quota headers (and the deprecation notice the JS client logs).
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "HEAD"], allow_headers=["*"],
                       expose_headers=EXPOSED_HEADERS)
    app.add_middleware(BodyLimitMiddleware, limit=instance.settings.max_upload_bytes)
    app.add_exception_handler(LoginRequired, login_redirect)
    hosts = {p.hostname.lower(): p for p in instance.settings.portals if p.hostname}
    if hosts:
        app.add_middleware(PortalHostMiddleware, hosts=hosts)
    app.add_middleware(MergedSlashesMiddleware)  # before the host's prefix is put on the path
    app.add_middleware(NoSniffMiddleware)  # outermost of ours: every answer they give carries it
    app.router.routes.extend(site_routes(instance.settings.portals))
    return app


#: The routes of each set of portals (by their settings), made once per process (``site_routes``).
_SITES: dict[tuple[str, ...], list[BaseRoute]] = {}


def site_routes(portals: Sequence[Portal]) -> list[BaseRoute]:
    """The routes of these portals' APIs and pages and of the management API, in the order they
    are tried, made once per process and shared by every app made with the same portals.

    Making them cost every app 0.4 s of CPU (~360 routes: FastAPI reads each endpoint's signature
    and builds its parameter models), and its first calls as much again (FastAPI resolves an
    included router's routes lazily, once per inclusion). A server's worker makes one app, but a
    test suite making an app per test spent minutes on it. Routes hold nothing of an app: they
    find the instance on the request (``request.app.state``). So an app's
    ``dependency_overrides`` do not reach them: nothing here overrides a dependency (tests run
    our own parts, never stand-ins).

    APIs first: their fixed prefixes cannot shadow anything, and most calls are API calls
    (routes are tried in order: each route tried costs a few µs of FastAPI's matching). Then the
    sign-in pages (fixed paths, never behind a portal's gate), then pages, prefixed portals
    first, so that the root portal's pages never shadow theirs."""
    key = tuple(portal.model_dump_json() for portal in portals)
    routes = _SITES.get(key)
    if routes is not None:
        return routes
    from portail.web.account_routes import account_router
    from portail.web.auth_routes import auth_router
    from portail.web.oauth_routes import oauth_router

    site = APIRouter(default_response_class=JSONAnswer)  # as an app's own router
    for portal in portals:
        mount_apis(site, portal)
    for portal in portals:  # login/logout/SSO and OAuth2 pages, never behind a portal's gate
        site.include_router(auth_router(portal))
        site.include_router(oauth_router(portal))
        site.include_router(account_router(portal))  # "My account": the signed-in user's keys and applications
    for portal in sorted(portals, key=lambda p: p.root == ""):
        mount_pages(site, portal)
    site.mount("/static", StaticFiles(directory=str(Path(__file__).resolve().parents[1] / "web" / "static")),
               name="static")
    site.include_router(management_router())
    site.include_router(accounts_router())  # users, groups, keys, quotas, grants, audit
    routes = _SITES[key] = list(site.routes)
    return routes


def warm_up(instance: Instance) -> list[str]:
    """What the first calls after a server starts would otherwise pay, paid before it listens:
    the ODSQL parser (~90 ms to build), the engine with its spatial extension (~180 ms) and the
    current version of every dataset with its index file (a few ms each). Returns the versions
    attached."""
    odsql.parse("where", "true")
    return instance.store.warm(current_locations(instance))


@asynccontextmanager
async def _warm_on_start(app: FastAPI):
    await anyio.to_thread.run_sync(warm_up, app.state.instance)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_settle_forever, app.state.instance)
        yield
        tasks.cancel_scope.cancel()


async def _settle_forever(instance: Instance) -> None:
    """Let go of superseded versions even in a worker process no call reaches (API calls do it
    as they read the catalogue's stamp): one integer read every ``SETTLE_EVERY`` seconds."""
    while True:
        await anyio.sleep(SETTLE_EVERY)
        try:
            await anyio.to_thread.run_sync(settled_stamp, instance)
        except Exception:  # the catalogue unreachable a moment: the next round tries again
            logging.getLogger(__name__).exception("could not let go of superseded versions")


def mount_apis(site: APIRouter, portal: Portal) -> None:
    """The APIs of one portal under its prefix."""
    api_gate = [Depends(portal_gate(portal, api=True))]
    site.include_router(explore_router(portal.id), prefix=portal.root + EXPLORE_PREFIX, dependencies=api_gate)
    site.include_router(catalog_exports_router(portal.id), prefix=portal.root + EXPLORE_PREFIX, dependencies=api_gate)
    site.include_router(v1_router(portal.id), prefix=portal.root, dependencies=api_gate)
    for prefix in V20_PREFIXES:  # v2.0, for the apps still written against it (api/explore_v20.py)
        site.include_router(explore_v20_router(portal.id, prefix), prefix=portal.root + prefix, dependencies=api_gate)
        site.include_router(catalog_exports_router(portal.id, prefix), prefix=portal.root + prefix, dependencies=api_gate)


def mount_pages(site: APIRouter, portal: Portal) -> None:
    """The web pages of one portal under its prefix."""
    from portail.web import web_router

    site.include_router(web_router(portal.id), prefix=portal.root, dependencies=[Depends(portal_gate(portal, api=False))])


class PortalHostMiddleware:
    """Requests to a portal's own hostname reach that portal: ``/x`` on ``interne.example.org``
    is served as ``/interne/x``."""

    def __init__(self, app, hosts: dict[str, Portal]):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
            portal = self.hosts.get(host.split(":")[0].lower())
            if portal is not None and portal.root and not scope["path"].startswith(portal.prefix):
                scope = {**scope, "path": portal.root + scope["path"],
                         "raw_path": (portal.root + scope["path"]).encode()}
        await self.app(scope, receive, send)


class NoSniffMiddleware:
    """Every answer says ``X-Content-Type-Options: nosniff``: a browser takes a file for the type
    it is served as, never for what its bytes look like (an attachment uploaded as text/plain
    holding HTML and script is not run as a page, an export is not guessed into one)."""

    HEADER = (b"x-content-type-options", b"nosniff")

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message):
            if message["type"] == "http.response.start" and \
                    not any(k.lower() == self.HEADER[0] for k, _ in message.get("headers", [])):
                message = {**message, "headers": [*message.get("headers", []), self.HEADER]}
            await send(message)

        await self.app(scope, receive, with_header)


class MergedSlashesMiddleware:
    """``//api/explore/v2.1/…`` is ``/api/explore/v2.1/…``: apps that join a portal's address
    ending in ``/`` with a path starting with one send it, and Opendatasoft's portals answer it
    (nginx's ``merge_slashes``, on by default), where the router found no route and said 404."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "//" in scope["path"]:
            path = re.sub("/{2,}", "/", scope["path"])
            raw = re.sub(rb"/{2,}", b"/", scope.get("raw_path") or path.encode())
            scope = {**scope, "path": path, "raw_path": raw}
        await self.app(scope, receive, send)


class HeadAsGetMiddleware:
    """``HEAD`` is answered wherever ``GET`` is (HTTP semantics; link checkers and proxies send
    it): the GET's status and headers, without its body. Routes declare GET only, so the
    OpenAPI document is not doubled.

    The GET's work stops once its head is sent: link checkers, ``curl -I`` and data.gouv.fr's
    harvester send HEAD to export URLs, and a 2 M-row export ran its whole query and
    serialisation for a body nobody reads. Once the head has gone (the answer ended there),
    the app hears that the client has left: a streamed answer interrupts its engine query and
    closes its cursor as for a hang-up (``api.streaming``), its status still the truthful one
    (it reads its first chunk before sending it). What else the app sends is dropped."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        answered = anyio.Event()

        async def headers_only(message):
            if answered.is_set():  # the body, or what the answer sends on (a streamed one, until it hears)
                return
            await send(message)
            if message["type"] == "http.response.start":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                answered.set()

        async def gone_once_answered():
            """The client's messages until the head has gone, then its leaving."""
            if answered.is_set():
                return {"type": "http.disconnect"}
            heard = {"type": "http.disconnect"}
            async with anyio.create_task_group() as group:
                async def listen():
                    nonlocal heard
                    heard = await receive()
                    group.cancel_scope.cancel()

                async def until_answered():
                    await answered.wait()
                    group.cancel_scope.cancel()

                group.start_soon(listen)
                group.start_soon(until_answered)
            return heard

        await self.app({**scope, "method": "GET", "asgi": self.told_by_receive(scope.get("asgi", {}))},
                       gone_once_answered, headers_only)

    #: The last ASGI version whose apps hear a hang-up from ``receive`` (2.4's hear it from ``send``).
    RECEIVE_TELLS = (2, 3)

    @classmethod
    def told_by_receive(cls, asgi: dict) -> dict:
        """The server's ASGI details, its version at most 2.3 for a HEAD's GET: the hang-up told
        here comes by ``receive``, and from 2.4 on Starlette's streamed answers stop listening
        there (a failing ``send`` tells them), so under a server of 2.4 a HEAD's export ran to
        its end again, its chunks dropped one by one."""
        spec = asgi.get("spec_version", "2.0")
        if tuple(int(part) for part in spec.split(".")) <= cls.RECEIVE_TELLS:
            return asgi
        return {**asgi, "spec_version": ".".join(map(str, cls.RECEIVE_TELLS))}

