"""Sign-in pages of one portal: login (password and SSO), logout, logout everywhere, password reset.

``auth_router(portal)`` serves them under the portal's prefix (``/login``, ``/interne/login``…),
so a private portal's pages can send anonymous visitors to their own login page with
``?next=<path>``; ``next`` is followed only when it is a path of this site.

Forms carry a CSRF token (``request.state.csrf_token`` from ``api.guard``, which checks it);
before sign-in it is the double-submit cookie set here. Every rule lives in ``auth``: lockout
and audit in ``services.authenticate``, sessions in ``auth.sessions``, SSO in ``auth.oidc``.
``Settings.local_login_disabled_portals`` turns password sign-in off on a portal (SSO only).
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote, unquote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from portail.api.deps import with_language
from portail.auth import AuthError, csrf, oidc, passwords, services, sessions
from portail.catalog.db import transaction
from portail.config import Portal
from portail.web.i18n import SSO_FRENCH
from portail.web.routes import TEMPLATES, _context

LABELS = {
    "fr": {"sign_in": "Connexion", "login": "Identifiant", "password": "Mot de passe", "submit": "Se connecter",
           "sso": "Se connecter avec le compte de l'institution", "or": "ou", "sign_out": "Déconnexion",
           "local_off": "Sur ce portail, la connexion se fait par le compte de l'institution.",
           "reset": "Nouveau mot de passe", "new_password": "Nouveau mot de passe", "save": "Enregistrer",
           "reset_done": "Mot de passe changé : vous pouvez vous connecter.",
           "everywhere": "Se déconnecter partout"},
    "en": {"sign_in": "Sign in", "login": "Login", "password": "Password", "submit": "Sign in",
           "sso": "Sign in with your organisation account", "or": "or", "sign_out": "Sign out",
           "local_off": "On this portal, sign in with your organisation account.",
           "reset": "New password", "new_password": "New password", "save": "Save",
           "reset_done": "Password changed: you may sign in.", "everywhere": "Sign out everywhere"},
}


#: Addresses of the sign-in machinery no page is at: forms' POST targets (a GET answers a bare 405)
#: and the SSO callback (its code spent). A ``next`` to one, crafted or stale (or
#: percent-encoded: the server reads the path decoded), lands on the home.
NOT_PAGES = re.compile(r"/(logout|logout-everywhere|oauth2/token|login/sso/callback)/?$|/account/.")


#: The cookie binding a single sign-on under way to the browser that started it (``oidc.start``);
#: ``__Host-`` when Secure (``sessions.cookie_name``: a sibling subdomain planted its own key,
#: and the callback link of its own sign-in then signed the victim into its account).
SSO_BROWSER_COOKIE = "portail_sso_browser"


def sso_browser_key(request: Request) -> str | None:
    """The browser's SSO key, read under this setting's name only."""
    secure = request.app.state.instance.settings.session_cookie_secure
    return request.cookies.get(sessions.cookie_name(SSO_BROWSER_COOKIE, secure))


def keep_sso_browser_key(response: Response, request: Request, browser_key: str) -> None:
    """Set (or renew) the browser's SSO key: sent back on the provider's redirect to the callback
    (a top-level GET, which ``SameSite=Lax`` lets through)."""
    secure = request.app.state.instance.settings.session_cookie_secure
    response.set_cookie(sessions.cookie_name(SSO_BROWSER_COOKIE, secure), browser_key,
                        max_age=int(oidc.FLOW_TTL.total_seconds()), path="/", httponly=True, samesite="lax",
                        secure=secure)


def safe_next(target: str | None, root: str) -> str:
    """``target`` if it is a path of a page of this site, else the portal's home (no open
    redirect, no landing on a form's POST-only address)."""
    home = root + "/"
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target \
            or any(ord(c) < 32 for c in target) or NOT_PAGES.search(unquote(target.partition("?")[0])):
        return home
    return target


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


#: The French of the messages ``auth`` refuses with (written in English for the APIs and the CLI).
FRENCH = {
    "Invalid login or password": "Identifiant ou mot de passe incorrect",
    "Too many failed sign-ins; try again later": "Trop de connexions échouées : réessayez plus tard",
    "This account is disabled": "Ce compte est désactivé",
    "This password reset link is not valid or has expired": "Ce lien de changement de mot de passe n'est pas "
                                                            "valide, ou a expiré",
    "Single sign-on is not configured": "La connexion par le compte de l'institution n'est pas configurée",
    "Single sign-on failed; please try again": "La connexion par le compte de l'institution a échoué : réessayez",
    "Sign in first, then authorize the application again.": "Connectez-vous, puis autorisez à nouveau l'application.",
    "Unknown or revoked client_id": "Application inconnue ou révoquée (client_id)",
    "redirect_uri is not one this client registered": "Cette adresse de retour (redirect_uri) n'est pas "
                                                      "enregistrée pour cette application",
    LABELS["en"]["local_off"]: LABELS["fr"]["local_off"],
}
_POLICY_FRENCH = {f"have at least {passwords.MIN_LENGTH} characters": f"compter au moins {passwords.MIN_LENGTH} caractères",
                  f"have at most {passwords.MAX_LENGTH} characters": f"compter au plus {passwords.MAX_LENGTH} caractères",
                  passwords.TWO_KINDS: "mêler au moins deux sortes de caractères (minuscules, majuscules, chiffres, "
                                       "autres)",
                  passwords.NOT_LOGIN: "ne pas contenir l'identifiant"}


def in_language(message: str, lang: str) -> str:
    """``message`` in the page's language: French when it is one ``auth`` is known to say."""
    if lang != "fr":
        return message
    if message.startswith("The password must "):
        rules = message.removeprefix("The password must ").split("; ")
        return "Le mot de passe doit " + " ; ".join(_POLICY_FRENCH.get(r, r) for r in rules)
    if message in FRENCH:
        return FRENCH[message]
    # single sign-on's, the reference to quote or the detail in brackets after some kept as is
    for head in (message, message.rpartition(" ")[0], message.partition(" (")[0]):
        if head in SSO_FRENCH:
            return SSO_FRENCH[head] + message[len(head):]
    return message


def session_cookie(request: Request) -> str | None:
    """The browser's session token, under this setting's cookie name (``sessions.session_token``)."""
    return sessions.session_token(request.cookies, request.app.state.instance.settings.session_cookie_secure)


def forget_session_cookie(response: Response, request: Request) -> None:
    """Sign-out's deletion of the session cookie: Secure as the cookie was, for a browser ignores
    a ``__Host-`` cookie's deletion that is not."""
    secure = request.app.state.instance.settings.session_cookie_secure
    response.delete_cookie(sessions.cookie_name(sessions.COOKIE_NAME, secure), path="/", secure=secure)


def auth_page(request: Request, portal: Portal, template: str, status: int = 200, **values) -> HTMLResponse:
    """A page of the sign-in family, its forms carrying the CSRF token: the session's, or before
    sign-in a fresh double-submit cookie set here."""
    settings = request.app.state.instance.settings
    context = _context(request, portal.id, **values)
    if context.get("error"):
        context["error"] = in_language(context["error"], context["lang"])
    token = request.state.csrf_token if hasattr(request.state, "csrf_token") else None
    fresh = None
    if not token:
        token = fresh = csrf.new_token()
    context.update(csrf_token=token, a=LABELS[context["lang"]], portal_root=portal.root,
                   sso=oidc.OidcConfig.from_settings(settings) is not None,
                   local=portal.id not in settings.local_login_disabled_portals)
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    # sign-in and consent pages are never framed (clickjacking) nor leak their URL onward, nor
    # kept by a cache: an anonymous visitor's carries its form token and SSO key (cookies set
    # here), which a shared cache would hand to the next visitor, an attacker among them
    response.headers.update({"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'",
                             "Referrer-Policy": "same-origin", "Cache-Control": "private, no-store"})
    if fresh:
        response.set_cookie(sessions.cookie_name(csrf.COOKIE_NAME, settings.session_cookie_secure), fresh, httponly=True, samesite="lax", path="/",
                            secure=settings.session_cookie_secure)
    if context["sso"] and not sso_browser_key(request):
        # the key is set before the SSO button is followed: two tabs of a browser without one,
        # started at once, each set their own and the later cookie won, the other tab's
        # callback refused; from this page, both starts read the one key the browser kept
        keep_sso_browser_key(response, request, oidc.new_browser_key())
    return response


def auth_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    root = portal.root

    def settings(request: Request):
        return request.app.state.instance.settings

    def local_allowed(request: Request) -> bool:
        return portal.id not in settings(request).local_login_disabled_portals

    def page(request: Request, template: str, status: int = 200, **values) -> HTMLResponse:
        return auth_page(request, portal, template, status, **values)

    def signed_in(request: Request, user, method: str, target: str) -> RedirectResponse:
        config = settings(request)
        ttl = timedelta(minutes=config.session_ttl_minutes)
        with transaction(request.app.state.instance.catalog) as db:
            # the browser's session before this sign-in ends (its cookie is replaced): kept, it
            # lived on to its expiry, someone else's perhaps on a shared computer, for whoever
            # had read its cookie; its ``logout`` event names who signed in (not a sign-out asked for)
            user = db.merge(user)
            sessions.close_session(db, session_cookie(request), ip=client_ip(request), replaced_by=user.login)
            opened = sessions.open_session(db, user, method=method, ttl=ttl, ip=client_ip(request),
                                           user_agent=request.headers.get("user-agent"))
        response = RedirectResponse(safe_next(target, root), status_code=303)
        response.set_cookie(value=opened.token, **sessions.cookie_options(config.session_cookie_secure, ttl))
        # the session's own token takes over (a ``__Host-`` cookie is deleted Secure, or not at all)
        response.delete_cookie(sessions.cookie_name(csrf.COOKIE_NAME, config.session_cookie_secure), path="/",
                               secure=config.session_cookie_secure)
        return response

    @router.get(f"{root}/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = ""):
        principal = getattr(request.state, "principal", None)
        if principal is not None and principal.is_authenticated:
            return RedirectResponse(safe_next(next, root), status_code=303)
        return page(request, "login.html", next=safe_next(next, root))

    @router.post(f"{root}/login", response_class=HTMLResponse)
    def login(request: Request, login: str = Form(""), password: str = Form(""), next: str = Form("")):
        if not local_allowed(request):
            return page(request, "login.html", 403, next=safe_next(next, root), error=LABELS["en"]["local_off"])
        config = settings(request)
        with transaction(request.app.state.instance.catalog) as db:
            attempt = services.authenticate(db, login, password, ip=client_ip(request),
                                            max_failures=config.auth_max_failed_logins,
                                            lockout=timedelta(minutes=config.auth_lockout_minutes))
        if not attempt.ok:
            return page(request, "login.html", 401, next=safe_next(next, root), error=attempt.error().message,
                        login=login)
        return signed_in(request, attempt.user, "password",
                         with_language(safe_next(next, root), request.query_params.get("lang")))

    @router.post(f"{root}/logout")
    def logout(request: Request, next: str = ""):
        with transaction(request.app.state.instance.catalog) as db:
            sessions.close_session(db, session_cookie(request), ip=client_ip(request))
        # back to the page signed out of (the form's ``next``, routes.return_paths), in its language, as
        # logout_everywhere keeps it (an English reader signed out into French, on the home page)
        response = RedirectResponse(with_language(safe_next(next, root), request.query_params.get("lang")),
                                    status_code=303)
        forget_session_cookie(response, request)
        return response

    @router.post(f"{root}/logout-everywhere")
    def logout_everywhere(request: Request):
        with transaction(request.app.state.instance.catalog) as db:
            row = sessions.find_session(db, session_cookie(request))
            if row is not None:
                sessions.close_all_sessions(db, row.user, actor=row.user.login, ip=client_ip(request))
        lang = request.query_params.get("lang")  # the page's language, kept
        response = RedirectResponse(with_language(root + "/", lang), status_code=303)
        forget_session_cookie(response, request)
        return response

    @router.get(f"{root}/reset-password", response_class=HTMLResponse)
    def reset_form(request: Request, token: str = ""):
        # "Sign in" from here goes home: the link's token is spent once the password is changed
        return page(request, "reset_password.html", token=token, next=root + "/")

    @router.post(f"{root}/reset-password", response_class=HTMLResponse)
    def reset(request: Request, token: str = Form(""), password: str = Form("")):
        try:
            with transaction(request.app.state.instance.catalog) as db:
                services.reset_password(db, token, password, ip=client_ip(request))
        except AuthError as error:
            return page(request, "reset_password.html", error.status, token=token, error=error.message)
        return page(request, "login.html", next=root + "/", notice=LABELS[
            _context(request, portal.id)["lang"]]["reset_done"])

    @router.get(f"{root}/login/sso")
    def sso_start(request: Request, next: str = ""):
        config = oidc.OidcConfig.from_settings(settings(request))
        if config is None:
            return page(request, "login.html", 404, next=safe_next(next, root), error="Single sign-on is not configured")
        try:
            metadata = oidc.discover(config)
        except AuthError as error:
            return page(request, "login.html", 502, next=safe_next(next, root), error=error.message)
        callback = str(request.url_for("sso_callback_" + portal.id))
        # the browser's key, kept across its sign-ins under way (two tabs each finish theirs)
        browser_key = sso_browser_key(request) or oidc.new_browser_key()
        with transaction(request.app.state.instance.catalog) as db:
            url = oidc.start(db, config, metadata, redirect_uri=callback, next_url=safe_next(next, root),
                             portal=portal.id, browser_key=browser_key)
        response = RedirectResponse(url, status_code=303)
        keep_sso_browser_key(response, request, browser_key)
        return response

    @router.get(f"{root}/login/sso/callback", name="sso_callback_" + portal.id)
    def sso_callback(request: Request, state: str = "", code: str = "", error: str = ""):
        config = oidc.OidcConfig.from_settings(settings(request))
        if config is None:
            return page(request, "login.html", 404, next=root + "/", error="Single sign-on is not configured")
        try:
            if error or not code:
                raise oidc.provider_refused(error)
            metadata = oidc.discover(config)
            refusal: AuthError | None = None
            with transaction(request.app.state.instance.catalog) as db:
                try:
                    user, flow = oidc.finish(db, config, metadata, state=state, code=code, ip=client_ip(request),
                                             browser_key=sso_browser_key(request))
                    target = flow.next_url
                except AuthError as refused:  # committed all the same: the flow spent, the refusal audited
                    refusal = refused
            if refusal is not None:
                raise refusal
        except AuthError as failure:
            return page(request, "login.html", failure.status, next=root + "/", error=failure.message)
        return signed_in(request, user, "oidc", target)

    return router


def login_link(root: str, next_path: str) -> str:
    return f"{root}/login?next={quote(next_path, safe='/')}"
