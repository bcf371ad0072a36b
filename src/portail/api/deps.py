"""The FastAPI dependencies of every portal route: who is asking, and may they enter this portal.

``request_principal`` is the single entry point from a request to an ``auth.Principal``
(``Authorization: Apikey …``, ``?apikey=``, HTTP Basic, and the session cookie):
routes and pages take it through ``caller`` (its async face: ``Depends(caller)``, or called by
``api.params.query_route``) and hand it to the services of ``api.explore_service``, which apply
the caller's rights in the query path. A bad key is an Opendatasoft-style 401, never a silent
anonymous caller. ``in_worker`` runs their blocking work off the event loop.

A private portal refuses anonymous callers before any route runs: ``portal_gate(portal, api=True)``
answers 401 JSON, ``api=False`` (web pages) redirects to ``<portal>/login?next=…``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse

from portail.api.errors import ApiError
from portail.auth import AuthError, Principal, principal_from_request
from portail.config import Portal
from portail.store import abandon


#: Paths under ``/api`` that are documents, not calls: never counted, no caller read from Basic.
DOCUMENTS = ("/api/health", "/api/docs", "/api/explore/v2.1/swagger.json")


def is_api_call(path: str) -> bool:
    """A call to one of the APIs (counted by ``api.guard``), not a page or a document about them:
    the dataset page's API tab and the Swagger UI page are pages."""
    return ("/api/" in path or path.endswith("/api")) and not any(path.startswith(p) for p in DOCUMENTS) \
        and "/explore/dataset/" not in path


def reads_basic(settings, path: str) -> bool:
    """Whether a request's HTTP Basic header names its caller: on API calls only (scripts), and
    only where the site accepts it (``auth_http_basic``). Pages, the API documentation included,
    are signed in by their cookie: a proxy in front of a staging site that asks browsers for
    Basic credentials of its own must not make every page a 401, log a failed sign-in for each
    visit, nor the header outrank the visitor's session."""
    return settings.auth_http_basic and is_api_call(path)


def request_principal(request: Request) -> Principal:
    """The caller of this request, computed once (``api.guard`` usually did it already and left it
    in ``request.state.principal``; a refused credential in ``request.state.refusal``, which is
    answered here)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    settings = request.app.state.instance.settings
    try:
        refusal = getattr(request.state, "refusal", None)
        if refusal is not None:
            raise refusal
        principal = principal_from_request(request.headers, request.query_params,
                                           request.app.state.instance.catalog, cookies=request.cookies,
                                           ip=request.client.host if request.client else None,
                                           max_failures=settings.auth_max_failed_logins,
                                           lockout=timedelta(minutes=settings.auth_lockout_minutes),
                                           basic_auth=reads_basic(settings, request.url.path),
                                           secure_cookies=settings.session_cookie_secure)
    except AuthError as error:
        # Never a ``WWW-Authenticate: Basic`` challenge (refused Basic credentials included): a
        # browser would pop up a login dialog on the public portal, then send what was typed
        # into it with every request to the site, forged cross-site ones too (``auth.basic``).
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if error.code == "InvalidToken" else None
        raise ApiError(error.status, error.code, error.message, headers=challenge) from None
    request.state.principal = principal
    return principal


async def caller(request: Request) -> Principal:
    """``request_principal`` as a FastAPI dependency. Async so that the usual case (the guard
    already read the caller) costs no trip through the thread pool: a sync dependency takes one
    per request, as much as a small query's fixed cost; reading a key or a session still runs
    in the pool, off the event loop."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    return await in_worker(request_principal, request)


#: Worker threads of blocking calls (engine reads, catalogue lookups), as many as Starlette's
#: own thread pool lends (anyio's default limiter: 40).
WORKER_THREADS = 40
_workers: ThreadPoolExecutor | None = None
T = TypeVar("T")


#: Seconds a watched call runs before its client's going away is listened for: a kept answer
#: (1 ms) pays nothing for it.
SLOW_CALL = 0.25
#: The status of an answer to a client that went away (nginx's "client closed request"): the
#: access log's, since nobody reads it.
CLIENT_GONE = 499


async def in_worker(func: Callable[..., T], /, *args: Any, watched: Request | None = None, **kwargs: Any) -> T:
    """``func(*args, **kwargs)`` in a worker thread, off the event loop. Why not Starlette's
    ``run_in_threadpool`` (what a sync route gets): its capacity limiter and cancellation
    shielding cost 0.2-0.6 ms a call on this project's 2 cores, a third of a kept answer; the
    loop's executor hands the call over directly. ``watched``: the request the call answers;
    if it runs past ``SLOW_CALL`` and its client goes away meanwhile, the engine's queries of
    the call are interrupted (``store.abandon``: a map that panned left a zoom-15
    ``geo_cluster()`` holding both cores for seconds) and the answer is an empty 499."""
    global _workers
    if _workers is None:
        _workers = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="portail-worker")
    loop = asyncio.get_running_loop()
    call = functools.partial(func, *args, **kwargs)
    if watched is None:
        return await loop.run_in_executor(_workers, call)
    watch = abandon.Watch()
    context = contextvars.copy_context()
    context.run(abandon.CURRENT.set, watch)
    future = loop.run_in_executor(_workers, context.run, call)
    done, _ = await asyncio.wait({future}, timeout=SLOW_CALL)
    if not done:
        gone = asyncio.ensure_future(_client_gone(watched))
        try:
            await asyncio.wait({future, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        # the client's disconnect heard, not a request that cannot listen (no receive channel)
        if not future.done() and gone.done() and not gone.cancelled() and gone.exception() is None:
            watch.abandon()
    try:
        return await future
    except Exception as error:
        if watch.abandoned and abandon.interrupted(error):
            return Response(status_code=CLIENT_GONE)
        raise


async def _client_gone(request: Request) -> None:
    """Returns when the client of ``request`` has gone away (the server's ``http.disconnect``)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def portal_url(request: Request, portal_id: str) -> str:
    """The root URL of a portal as this request reached it (its path prefix included), for links."""
    try:
        root = request.app.state.instance.settings.portal(portal_id).root
    except KeyError:
        root = ""
    return str(request.base_url).rstrip("/") + root


def public_url(request: Request, portal_id: str) -> str:
    """The root URL of a portal as configured (``base_url`` and its path prefix), for URIs that
    must stay the same for every harvest (DCAT, RDF records), whatever host a request came by."""
    settings = request.app.state.instance.settings
    try:
        root = settings.portal(portal_id).root
    except KeyError:
        root = ""
    return settings.base_url.rstrip("/") + root


def dataset_url(request: Request, portal_id: str, slug: str) -> str:
    """A dataset's v2.1 URL at the configured address: the base of its records' IRIs in the
    RDF exports and of its events' UIDs in the calendar, whichever route exports them."""
    return f"{public_url(request, portal_id)}/api/explore/v2.1/catalog/datasets/{slug}"


class LoginRequired(Exception):
    """A web page of a private portal asked by an anonymous caller: redirect to the login page."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def login_redirect(_: Request, error: LoginRequired) -> RedirectResponse:
    return RedirectResponse(error.location, status_code=303)


def login_url(portal: Portal, request: Request) -> str:
    """The sign-in page, back to ``request``'s, in its ``?lang=``: a French page's redirect
    showed the form in the browser's language (English in an English browser)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return with_language(f"{portal.root}/login?next={quote(target, safe='/')}", request.query_params.get("lang"))


def with_language(target: str, lang: str | None) -> str:
    """``target`` (a path of this site) in a page's language (``?lang=``, one the pages speak),
    unless it names one: an English reader signed in from "Sign in" landed on the home page in
    the browser's language, French; ``next`` in ``target`` is quoted, so its own ``lang=`` never
    counts."""
    if lang not in ("fr", "en") or "lang=" in target.partition("?")[2]:
        return target
    return target + ("&" if "?" in target else "?") + f"lang={lang}"


def portal_gate(portal: Portal, *, api: bool):
    """A router dependency: nothing of a private portal answers an anonymous caller."""

    async def gate(request: Request, principal: Principal = Depends(caller)) -> None:
        if not portal.private or principal.is_authenticated:
            return
        if api:
            basic = ", a login and password (HTTP Basic)" \
                if request.app.state.instance.settings.auth_http_basic else ""
            raise ApiError(401, "Unauthorized", "This portal requires authentication: send an API key "
                                                f"(Authorization: Apikey <key>){basic} or sign in.")
        raise LoginRequired(login_url(portal, request))

    return gate
