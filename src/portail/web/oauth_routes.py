"""The OAuth2 endpoints of one portal (``auth.oauth2`` holds the rules): ``/oauth2/authorize/``,
the consent page a signed-in user answers, and ``/oauth2/token/``, where the client exchanges
a code or a refresh token for tokens. Served under each portal's prefix, trailing slash or not,
like the sign-in pages, so a portal on its own host serves its own.

The consent form is a cookie-authenticated POST: ``api.guard`` checks its CSRF token. The token
endpoint ignores cookies and is exempt from that check (``api.guard.CSRF_EXEMPT``): the client's
own credentials, or its PKCE verifier, are its proof.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from portail.api.deps import in_worker, login_url
from portail.auth import oauth2
from portail.auth.models import User
from portail.catalog.db import transaction
from portail.config import Portal
from portail.web.auth_routes import auth_page, client_ip

LABELS = {
    "fr": {"title": "Autoriser une application", "asks": "L'application « %s » demande à agir en votre nom (%s) :",
           "scope_read": "lire les jeux de données et les enregistrements que vous pouvez voir ;",
           "scope_manage": "gérer ce que votre rôle vous permet de gérer.",
           "redirect": "Vous serez renvoyé vers", "allow": "Autoriser", "deny": "Refuser"},
    "en": {"title": "Authorize an application", "asks": "The application “%s” asks to act on your behalf (%s):",
           "scope_read": "read the datasets and records you can see;",
           "scope_manage": "manage what your role lets you manage.",
           "redirect": "You will be sent back to", "allow": "Allow", "deny": "Deny"},
}
#: The authorization request's parameters, carried from the consent page to its answer.
REQUEST_FIELDS = ("client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
                  "code_challenge_method")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _signed_in_user(request: Request):
    """The principal of a browser session (not of a key or token: an application cannot
    consent for its user), or None."""
    principal = getattr(request.state, "principal", None)
    if principal is None or not principal.is_authenticated or principal.scopes is not None:
        return None
    return principal


def oauth_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    root = portal.root

    def page(request: Request, status: int = 200, **values) -> HTMLResponse:
        return auth_page(request, portal, "oauth_authorize.html", status, oauth_labels=LABELS, **values)

    def checked(request: Request, params: dict[str, str | None]):
        with transaction(request.app.state.instance.catalog) as db:
            return oauth2.check_authorization(
                db, client_id=params.get("client_id"), redirect_uri=params.get("redirect_uri"),
                response_type=params.get("response_type"), scope=params.get("scope"), state=params.get("state"),
                code_challenge=params.get("code_challenge"), code_challenge_method=params.get("code_challenge_method"))

    def refused(request: Request, error: oauth2.OAuthError, params: dict[str, str | None]):
        """An error the user sees (client or URI untrusted), or one sent back to the client."""
        if not error.redirectable:
            return page(request, 400, error=error.description)
        uri = params.get("redirect_uri")
        if uri is None:  # the one registered URI (check_authorization accepted its absence)
            with transaction(request.app.state.instance.catalog) as db:
                uri = oauth2.get_client(db, params["client_id"]).redirect_uris[0]
        return RedirectResponse(oauth2.redirect_with(uri, {**error.to_dict(), "state": params.get("state")}),
                                status_code=303)

    async def authorize_form(request: Request):
        query = request.query_params
        params = {name: query.get(name) for name in REQUEST_FIELDS}
        if params["scope"] is None and query.get("scopes") is not None:  # Opendatasoft's spelling
            params["scope"] = query.get("scopes")
        try:
            asked = await in_worker(checked, request, params)
        except oauth2.OAuthError as error:
            return await in_worker(refused, request, error, params)
        principal = _signed_in_user(request)
        if principal is None:
            return RedirectResponse(login_url(portal, request), status_code=303)
        return page(request, client_name=asked.client_name, login=principal.login, scopes=asked.scopes,
                    redirect_uri=asked.redirect_uri,
                    params=[(k, v) for k, v in params.items() if v is not None])

    def authorize(request: Request, decision: str = Form(""), client_id: str | None = Form(None),
                  redirect_uri: str | None = Form(None), response_type: str | None = Form(None),
                  scope: str | None = Form(None), state: str | None = Form(None),
                  code_challenge: str | None = Form(None), code_challenge_method: str | None = Form(None)):
        params = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": response_type,
                  "scope": scope, "state": state, "code_challenge": code_challenge,
                  "code_challenge_method": code_challenge_method}
        try:
            asked = checked(request, params)
        except oauth2.OAuthError as error:
            return refused(request, error, params)
        principal = _signed_in_user(request)
        if principal is None:
            return page(request, 401, error="Sign in first, then authorize the application again.")
        if decision != "allow":
            return refused(request, oauth2.OAuthError("access_denied", "The user denied the request"),
                           {**params, "redirect_uri": asked.redirect_uri})
        with transaction(request.app.state.instance.catalog) as db:
            user = db.get(User, principal.user_id)
            code = oauth2.issue_code(db, asked, user, ip=client_ip(request))
        return RedirectResponse(oauth2.redirect_with(asked.redirect_uri, {"code": code, "state": asked.state}),
                                status_code=303)

    def token(request: Request, grant_type: str = Form(""), code: str | None = Form(None),
              redirect_uri: str | None = Form(None), client_id: str | None = Form(None),
              client_secret: str | None = Form(None), code_verifier: str | None = Form(None),
              refresh_token: str | None = Form(None), scope: str | None = Form(None),
              state: str | None = Form(None)):
        try:
            basic = oauth2.basic_credentials(request.headers.get("authorization"))
            if basic is not None:
                if client_secret is not None:  # RFC 6749 §2.3: one way of authenticating per request
                    raise oauth2.OAuthError("invalid_request", "Send the client secret as HTTP Basic or in the "
                                                               "form, not both")
                if client_id is not None and client_id != basic[0]:
                    raise oauth2.OAuthError("invalid_request", "client_id differs from the HTTP Basic credentials")
                client_id, client_secret = basic
            refused = None
            with transaction(request.app.state.instance.catalog) as db:
                try:
                    client = oauth2.authenticate_client(db, client_id, client_secret)
                    if grant_type == "authorization_code":
                        tokens = oauth2.exchange_code(db, client, code=code, redirect_uri=redirect_uri,
                                                      code_verifier=code_verifier, ip=client_ip(request))
                    elif grant_type == "refresh_token":
                        tokens = oauth2.refresh_tokens(db, client, refresh_token=refresh_token, scope=scope,
                                                       ip=client_ip(request))
                    else:
                        raise oauth2.OAuthError("unsupported_grant_type",
                                                "grant_type must be authorization_code or refresh_token")
                except oauth2.OAuthError as error:
                    if not error.keep_changes:
                        raise
                    refused = error  # a replay: its revocations are committed, then refused
            if refused is not None:
                raise refused
        except oauth2.OAuthError as error:
            headers = dict(NO_STORE)
            if error.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="portail"'
            return JSONResponse(error.to_dict(), status_code=error.status, headers=headers)
        return JSONResponse(tokens.to_dict(state), headers=NO_STORE)

    for path in (f"{root}/oauth2/authorize", f"{root}/oauth2/authorize/"):
        router.add_api_route(path, authorize_form, methods=["GET"], response_class=HTMLResponse)
        router.add_api_route(path, authorize, methods=["POST"], response_class=HTMLResponse)
    for path in (f"{root}/oauth2/token", f"{root}/oauth2/token/"):
        router.add_api_route(path, token, methods=["POST"])
    return router
