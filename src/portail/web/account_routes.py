""""My account" of one portal (``{root}/account``), as Opendatasoft's account settings: who is
signed in, their API keys (create, list, revoke) and the applications acting for them
(connected applications, revoke), with "sign out everywhere".

The page belongs to a browser session: a key or an application's token cannot use it (they
would otherwise mint keys without the CSRF check a browser form gets). Every change goes
through ``auth.services`` / ``auth.oauth2`` with the caller as actor, so the audit log records
it as it does for the management API, and the same rules hold: a key belongs to its user only
(another user's key id is a 404 here, even for an admin, so ids do not leak), and ``manage``
is offered only to a user who has something to manage.

A new key's secret is shown once, in the answer to the POST that created it (no redirect:
the secret must be in no URL and no later page), with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from portail.api.deps import login_url
from portail.api.explore_service import visible_datasets
from portail.auth import AuthError, Principal, keys, oauth2, services
from portail.auth.models import ApiKey
from portail.auth.permissions import may_hold_manage_scope
from portail.catalog.db import transaction
from portail.config import Portal
from portail.web.auth_routes import auth_page, client_ip
from portail.web.i18n import ACCOUNT, ACCOUNT_FRENCH, PAGE_ZONE
from portail.web.oauth_routes import NO_STORE
from portail.web.routes import TEMPLATES, _context, page_language


def expiry(text: str) -> datetime | None:
    """The form's optional date (``YYYY-MM-DD``), the last day the key works, as the moment it
    stops: the next midnight in France (French users read "valable jusqu'au 30 juin" as all of
    that day). ``ValueError`` when it is no date."""
    text = text.strip()
    if not text:
        return None
    return datetime.combine(date.fromisoformat(text) + timedelta(days=1), time(), tzinfo=PAGE_ZONE).astimezone(UTC)


def last_day(moment: datetime) -> date:
    """The last day, in France, on which a key stopping at ``moment`` works."""
    return (moment.astimezone(PAGE_ZONE) - timedelta(microseconds=1)).date()


def account_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    root = portal.root

    def labels(request: Request) -> dict[str, str]:
        return ACCOUNT[page_language(request)]

    def back(request: Request, **notice: str) -> RedirectResponse:
        """To the page again after a change (post/redirect/get), in the same language."""
        query = {k: v for k, v in {"lang": request.query_params.get("lang", ""), **notice}.items() if v}
        return RedirectResponse(f"{root}/account" + (f"?{urlencode(query)}" if query else ""), status_code=303)

    def refused(request: Request, status: int, message: str) -> HTMLResponse:
        context = _context(request, portal.id, status=status, message=message)
        return TEMPLATES.TemplateResponse(request, "error.html", context, status_code=status)

    def session_user(request: Request) -> Principal | Response:
        """The principal of a browser session, or the answer to give instead: the login page
        to a visitor, a refusal to a key or token (the login page would send it back here)."""
        principal = getattr(request.state, "principal", None)
        if principal is None or not principal.is_authenticated:
            target = login_url(portal, request) if request.method == "GET" else f"{root}/login?next={root}/account"
            return RedirectResponse(target, status_code=303)
        if principal.scopes is not None:
            return refused(request, 403, labels(request)["browser_only"])
        return principal

    def offered(request: Request, principal: Principal) -> dict[str, str]:
        """The datasets a new key may be limited to, uid -> title: those this portal's catalogue
        shows the user (the management API's rule, ``api.accounts._listed_dataset``)."""
        datasets = visible_datasets(request.app.state.instance, portal.id, principal)
        return {d.uid: d.title for d in sorted(datasets, key=lambda d: d.title.casefold())}

    def page(request: Request, principal: Principal, status: int = 200, **values) -> HTMLResponse:
        with transaction(request.app.state.instance.catalog) as db:
            user = services.get_user(db, principal.login)
            me = {"login": user.login, "display_name": user.display_name, "email": user.email, "role": user.role,
                  "groups": [g.name for g in user.groups]}
            owned = sorted((keys.status_of(k) for k in keys.list_keys(db, user)),
                           key=lambda k: (k.created_at, k.id), reverse=True)
            grants = oauth2.user_grants(db, user)
        datasets = offered(request, principal)
        limits = {k.id: [datasets[uid] for uid in k.datasets if uid in datasets] for k in owned if k.datasets is not None}
        if request.method == "POST":  # the language link of a form's answer leads to the page, not the form's route
            values.setdefault("switch_lang", f"{root}/account?lang={'en' if page_language(request) == 'fr' else 'fr'}")
        return auth_page(request, portal, "account.html", status, k=labels(request), me=me, api_keys=owned,
                         grants=grants, manage_offered=may_hold_manage_scope(principal), last_day=last_day,
                         datasets_offered=datasets, limits=limits,
                         today=datetime.now(PAGE_ZONE).date().isoformat(), **values)  # a key may end today

    @router.get(f"{root}/account", response_class=HTMLResponse)
    def account(request: Request, revoked: str = "", disconnected: str = ""):
        principal = session_user(request)
        if isinstance(principal, Response):
            return principal
        return page(request, principal, revoked=revoked, disconnected=disconnected)

    @router.post(f"{root}/account/apikeys", response_class=HTMLResponse)
    def create_key(request: Request, name: str = Form(""), scopes: list[str] = Form([]), expires: str = Form(""),
                   datasets: list[str] = Form([])):
        principal = session_user(request)
        if isinstance(principal, Response):
            return principal
        k = labels(request)
        form = {"name": name, "scopes": scopes, "expires": expires, "datasets": datasets}
        if not name.strip():
            return page(request, principal, 400, error=k["name_required"], form=form)
        if any(s.strip().lower() == "manage" for s in scopes) and not may_hold_manage_scope(principal):  # as keys reads it
            return page(request, principal, 403, error=k["manage_refused"], form=form)
        try:
            expires_at = expiry(expires)
        except ValueError:
            return page(request, principal, 400, error=k["bad_date"], form=form)
        if not set(datasets) <= offered(request, principal).keys():  # a stale or hand-made form
            return page(request, principal, 400, error=k["unknown_dataset"], form=form)
        try:
            with transaction(request.app.state.instance.catalog) as db:
                user = services.get_user(db, principal.login)
                key, secret = services.create_api_key(db, user, name, scopes=scopes, expires_at=expires_at,
                                                      datasets=datasets or None,
                                                      actor=principal.login, ip=client_ip(request))
                created = {"id": key.id, "name": key.name, "secret": secret}
        except AuthError as error:
            french = page_language(request) == "fr"
            message = ACCOUNT_FRENCH.get(error.message, error.message) if french else error.message
            return page(request, principal, error.status, error=message, form=form)
        response = page(request, principal, created=created)
        response.headers.update(NO_STORE)  # the one page that holds the secret is kept by no cache
        return response

    @router.post(f"{root}/account/apikeys/{{key_id}}/revoke")
    def revoke_key(request: Request, key_id: str):
        principal = session_user(request)
        if isinstance(principal, Response):
            return principal
        with transaction(request.app.state.instance.catalog) as db:
            key = db.get(ApiKey, key_id)
            if key is None or key.user_id != principal.user_id:  # not yours: as if it did not exist
                return refused(request, 404, labels(request)["unknown_key"])
            services.revoke_api_key(db, key_id, by=principal, ip=client_ip(request))
        return back(request, revoked=key_id)

    @router.post(f"{root}/account/applications/{{client_id}}/revoke")
    def revoke_application(request: Request, client_id: str):
        principal = session_user(request)
        if isinstance(principal, Response):
            return principal
        with transaction(request.app.state.instance.catalog) as db:
            user = services.get_user(db, principal.login)
            count = oauth2.revoke_user_grant(db, user, client_id, actor=principal.login, ip=client_ip(request))
        if not count:
            return refused(request, 404, labels(request)["unknown_application"])
        return back(request, disconnected="1")

    return router
