"""The guard in front of every route: who is asking (once per request), CSRF, API quotas.

A pure ASGI middleware (``app.add_middleware(Guard)``), so it sees every request, streamed
responses included:

1. the caller: ``auth.principal_from_request`` (key, then session cookie) is computed once and
   left in ``request.state.principal`` for ``api.deps.request_principal`` and the templates
   (with ``request.state.csrf_token`` for their forms). A refused key, token or Basic pair is
   left in ``request.state.refusal`` for the route to answer (401) without looking again, and
   counted as anonymous;
2. CSRF: a state-changing request a browser could send on its own (session cookie, or a form)
   must echo its token (``auth.csrf``), in ``X-CSRF-Token`` or the ``csrf_token`` form field;
   else 403 ``CSRFError`` (but a POST to a read-only v1 route, ``api.v1.READ_BY_POST``, runs
   as an anonymous caller);
3. quotas on API paths (``/api/…``, under any portal prefix): ``X-RateLimit-Limit``,
   ``-Remaining`` and ``-Reset`` on each response, and past the quota a 429 with Opendatasoft's
   body (v1 fields ``errorcode``/``error``/``reset_time``… plus ``error_code``/``message``) and
   ``Retry-After``;
4. pages and API answers to a signed-in caller carry ``Cache-Control: private, no-store``: the
   pages' maps, charts and export links read ``/api/…`` with the session cookie, and a cache
   keyed on the address alone would replay restricted rows to the next visitor.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from anyio import to_thread
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portail.api.deps import is_api_call, reads_basic
from portail.api.serialize import JSON_MEDIA_TYPE
from portail.api.v1 import READ_BY_POST
from portail.auth import AuthError, csrf, principal_from_request, sessions
from portail.auth.principal import ANONYMOUS, has_credentials, principal_for_user
from portail.auth.ratelimit import bucket_of, decide, make_counter, quota_and_source
from portail.catalog.db import transaction
from portail.catalog.generation import GenerationCache

MAX_FORM_BYTES = 256 * 1024
#: POST routes that ignore cookies, so a forged request gains nothing: the OAuth2 token
#: endpoint, where the client's credentials (or its PKCE verifier) are the proof.
CSRF_EXEMPT = re.compile(r"/oauth2/token/?$")


def _json_response(status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None):
    payload = json.dumps(body).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", JSON_MEDIA_TYPE.encode()), (b"content-length", str(len(payload)).encode()),
                         *(headers or [])]}
    return start, {"type": "http.response.body", "body": payload}


class Guard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._counter = None

    def _settings(self, scope: Scope):
        return scope["app"].state.instance.settings

    def _counter_for(self, settings):
        if self._counter is None:
            self._counter = make_counter(settings.redis_url, settings.redis_prefix)
        return self._counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        instance = scope["app"].state.instance
        settings = instance.settings
        state = scope.setdefault("state", {})
        cookie = sessions.session_token(request.cookies, settings.session_cookie_secure)
        basic_auth = reads_basic(settings, scope["path"])
        explicit = has_credentials(request.headers, request.query_params, basic_auth)
        unforgeable = _unforgeable_credentials(request, scope["path"], basic_auth)

        principal, session_csrf = ANONYMOUS, None
        if explicit or cookie:
            def resolve():
                if explicit:
                    try:
                        return principal_from_request(
                            request.headers, request.query_params, instance.catalog,
                            ip=request.client.host if request.client else None,
                            max_failures=settings.auth_max_failed_logins,
                            lockout=timedelta(minutes=settings.auth_lockout_minutes), basic_auth=basic_auth), None
                    except AuthError as error:
                        return error, None
                with transaction(instance.catalog) as db:
                    row = sessions.find_session(db, cookie)
                    return (principal_for_user(row.user), row.csrf_token) if row is not None else (ANONYMOUS, None)

            resolved, session_csrf = await to_thread.run_sync(resolve)
            if isinstance(resolved, AuthError):
                # The route answers it (401) as it stands: a second look would pay argon2 again
                # for a Basic pair and audit a second failure.
                state["refusal"] = resolved
            else:
                principal = resolved
                state["principal"] = resolved
        else:
            state["principal"] = ANONYMOUS
        state["csrf_token"] = csrf.expected_token(session_csrf, request.cookies.get(
            sessions.cookie_name(csrf.COOKIE_NAME, settings.session_cookie_secure)))

        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        is_form = _is_form(content_type, scope["path"])
        # A cookie beside a query credential was not looked up (the credential named the
        # caller), but the page's route may still read it (sign-out): checked as a session.
        ambient = session_csrf is not None or (bool(cookie) and explicit and not unforgeable)
        if csrf.needs_check(scope["method"], ambient, is_form, unforgeable) \
                and not CSRF_EXEMPT.search(scope["path"]):
            expected = state["csrf_token"]
            submitted = request.headers.get(csrf.HEADER)
            if submitted is None and content_type == "application/x-www-form-urlencoded":
                body, receive = await _buffer(receive)
                if body is None:
                    start, end = _json_response(413, {"error_code": "PayloadTooLarge", "message": "Form too large."})
                    await send(start), await send(end)
                    return
                submitted = (parse_qs(body.decode("utf-8", "replace")).get(csrf.FORM_FIELD) or [None])[0]
            if not csrf.is_valid(submitted, expected) and READ_BY_POST.search(scope["path"]):
                # A read-only v1 route, which v1 clients POST to: run as anonymous, without
                # the cookie's rights (a forged form reads what anyone may, changes nothing).
                principal = state["principal"] = ANONYMOUS
            elif not csrf.is_valid(submitted, expected) and not is_api_call(scope["path"]):
                from portail.web.routes import refused_form_page  # a browser's form: a page

                await refused_form_page(Request(scope, receive))(scope, receive, send)
                return
            elif not csrf.is_valid(submitted, expected):
                start, end = _json_response(403, {"error_code": "CSRFError", "message": (
                    "This form has expired or did not come from this site: reload the page and try again "
                    "(scripts: send the X-CSRF-Token header).")})
                await send(start), await send(end)
                return

        if not is_api_call(scope["path"]):
            if principal.is_authenticated and not scope["path"].startswith("/static/"):
                await self.app(scope, receive, _no_store(send))
            else:
                await self.app(scope, receive, send)
            return
        limit, source = settings.ratelimit_anonymous, "anonymous"
        if principal.is_authenticated:
            limit, source = await to_thread.run_sync(lambda: _quota(instance, principal, settings))
        bucket = bucket_of(principal, request.client.host if request.client else None, own_key_quota=source == "apikey")
        decision = await decide(self._counter_for(settings), bucket, limit, settings.ratelimit_window, time.time(),
                                anonymous=not principal.is_authenticated)
        headers = [] if decision.limit == 0 else [
            (b"x-ratelimit-limit", str(decision.limit).encode()),
            (b"x-ratelimit-remaining", str(decision.remaining).encode()),
            (b"x-ratelimit-reset", str(decision.reset).encode())]
        if not decision.allowed:
            reset = datetime.fromtimestamp(decision.reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            message = ("You have exceeded the requests limit for anonymous users." if decision.anonymous
                       else "Too many requests on the domain. Please contact the domain administrator.")
            retry = max(1, decision.reset - int(time.time()))
            start, end = _json_response(429, {
                "error_code": "TooManyRequests", "message": message,
                "errorcode": 10005 if decision.anonymous else 10002, "error": message, "reset_time": reset,
                "limit_time_unit": decision.window, "call_limit": decision.limit},
                headers + [(b"retry-after", str(retry).encode())])
            await send(start), await send(end)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, _no_store(send_with_headers) if principal.is_authenticated else send_with_headers)


def _is_form(content_type: str, path: str) -> bool:
    """Whether a body is a form another site's page can post on its own, checked even without a
    session: a URL-encoded one anywhere, a multipart one on a page. The pages' routes read their
    fields from either (``Form``), so a forged ``enctype="multipart/form-data"`` sign-in form
    signed the visitor in to the forger's account as the URL-encoded one did before the check
    (review of 7 December); no page's own form is multipart, so its token must come in the header.
    A multipart call to an API is only checked with a session (the header then): reading it here
    would buffer an upload, and without ambient credentials it can do nothing an attacker's own
    client could not."""
    return content_type == "application/x-www-form-urlencoded" \
        or (content_type == "multipart/form-data" and not is_api_call(path))


def _unforgeable_credentials(request: Request, path: str, basic_auth: bool) -> bool:
    """Whether the request names its caller in a way another site's page cannot forge, which
    exempts it from the CSRF check. A header (a key, a token, Basic where read) needs a CORS
    preflight this site refuses. A query parameter (``?apikey=``, ``?access_token=``) does not:
    any page writes it into a form's action. On the APIs the route then runs as that credential
    (its holder's own rights, or a 401), so it may stand; the pages' forms (sign-in, sign-out,
    consent) read no key, and there a parameter, even an empty or refused one, only switched
    the check off: a forged form signed the visitor in to the forger's account (hunt of 7
    December)."""
    if has_credentials(request.headers, {}, basic_auth):
        return True
    return is_api_call(path) and has_credentials(request.headers, request.query_params, basic_auth)


def _no_store(send: Send) -> Send:
    """A signed-in caller's pages and API answers are kept by no cache, the browser's included:
    after sign-out, Back must not show a restricted table again (a route that set its own policy
    keeps it)."""
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == b"cache-control" for name, _ in headers):
                headers.append((b"cache-control", b"private, no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return sending


def _quota(instance, principal, settings) -> tuple[int, str]:
    """The caller's quota, kept while the catalogue is unchanged (``catalog.generation``:
    setting a quota, or changing the caller's groups, bumps it)."""
    def lookup() -> tuple[int, str]:
        with transaction(instance.catalog) as db:
            return quota_and_source(db, principal, default=settings.ratelimit_default,
                                    anonymous=settings.ratelimit_anonymous)

    return _QUOTAS.get((principal, settings.ratelimit_default, settings.ratelimit_anonymous), lookup,
                       stamp=instance.generation())


#: Quotas of signed-in callers.
_QUOTAS = GenerationCache(4096)


async def _buffer(receive: Receive) -> tuple[bytes | None, Receive]:
    """Read the whole (small) body, and a ``receive`` that hands it on to the route."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None, receive
        chunks.append(chunk)
        more = message.get("more_body", False)
    body, sent = b"".join(chunks), False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
