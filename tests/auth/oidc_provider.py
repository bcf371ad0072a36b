"""A small OpenID Connect provider for the SSO tests, run as its own process on loopback.

Real protocol, minimal features: discovery document, JWKS, an authorization endpoint with a
login form (any user of ``OIDC_USERS``), authorization codes bound to client, redirect URI,
PKCE S256 challenge and nonce, a token endpoint (client_secret_basic or _post) returning an
RS256 ID token signed with a key generated at start. Run:
``OIDC_ISSUER=… OIDC_CLIENT_ID=… OIDC_CLIENT_SECRET=… OIDC_USERS='{"alice": {"groups": […]}}'
python -m uvicorn tests.auth.oidc_provider:app --port …``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from html import escape
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.routing import Route

ISSUER = os.environ.get("OIDC_ISSUER", "http://127.0.0.1:9000")
BASE = ISSUER.rstrip("/")  # an issuer may end in "/" (Auth0's do): its endpoints are below it all the same
CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "portail")
CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET", "secret")
USERS: dict[str, dict] = json.loads(os.environ.get("OIDC_USERS", "{}"))
KEY = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
CODES: dict[str, dict] = {}
PARAMS = ("client_id", "redirect_uri", "state", "nonce", "code_challenge", "code_challenge_method", "scope",
          "response_type")


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "error_description": message}, status_code=status)


async def discovery(_: Request):
    return JSONResponse({
        "issuer": ISSUER, "authorization_endpoint": f"{BASE}/authorize", "token_endpoint": f"{BASE}/token",
        "jwks_uri": f"{BASE}/jwks", "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})


async def jwks(_: Request):
    return JSONResponse({"keys": [KEY.as_dict(private=False)]})


async def authorize(request: Request):
    values = dict(request.query_params) if request.method == "GET" else dict(await request.form())
    if values.get("client_id") != CLIENT_ID or values.get("response_type") != "code":
        return error("unknown client or response type")
    if values.get("code_challenge_method") != "S256" or not values.get("code_challenge"):
        return error("PKCE S256 is required")
    if "openid" not in values.get("scope", "").split() or not values.get("nonce") or not values.get("state"):
        return error("openid scope, state and nonce are required")
    if request.method == "GET":
        hidden = "".join(f'<input type="hidden" name="{k}" value="{escape(values.get(k, ""))}">' for k in PARAMS)
        return HTMLResponse(f'<form method="post" action="/authorize">{hidden}<input name="username">'
                            '<button>Sign in</button></form>')
    user = values.get("username", "")
    if user not in USERS:
        return HTMLResponse("unknown user", status_code=401)
    code = secrets.token_urlsafe(24)
    CODES[code] = {**{k: values.get(k) for k in PARAMS}, "user": user, "at": time.time()}
    return RedirectResponse(f"{values['redirect_uri']}?{urlencode({'code': code, 'state': values['state']})}", 302)


async def token(request: Request):
    form = dict(await request.form())
    client_id, secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    if client_id != CLIENT_ID or not hmac.compare_digest(secret or "", CLIENT_SECRET):
        return JSONResponse({"error": "invalid_client"}, status_code=401)
    grant = CODES.pop(form.get("code", ""), None)  # single use
    if form.get("grant_type") != "authorization_code" or grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
        return JSONResponse({"error": "invalid_grant"}, status_code=400)
    verifier = form.get("code_verifier", "")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    if challenge != grant["code_challenge"]:
        return JSONResponse({"error": "invalid_grant", "error_description": "PKCE verification failed"}, 400)
    profile, now = USERS[grant["user"]], int(time.time())
    claims = {"iss": ISSUER, "sub": f"sub-{grant['user']}", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
              "nonce": profile.get("nonce_override", grant["nonce"]), "preferred_username": grant["user"],
              "email": f"{grant['user']}@example.org", "name": grant["user"].title(),
              "groups": profile.get("groups", [])}
    id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, KEY)
    return JSONResponse({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300,
                         "id_token": id_token, "scope": grant["scope"]})


app = Starlette(routes=[Route("/.well-known/openid-configuration", discovery), Route("/jwks", jwks),
                        Route("/authorize", authorize, methods=["GET", "POST"]),
                        Route("/token", token, methods=["POST"])])
