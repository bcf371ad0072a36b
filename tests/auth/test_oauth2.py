"""OAuth2 as Opendatasoft serves it (reference §8.1): an application registered with
``portail oauth-client create`` sends a signed-in user to ``/oauth2/authorize/``, gets a code
back on its registered URI, exchanges it at ``/oauth2/token/`` (secret in the form or as HTTP
Basic; PKCE for public clients), then reads the Explore API with ``Authorization: Bearer`` or
``?access_token=`` as that user, restricted rows and fields included. Codes and refresh tokens
are single use; revoking the client, disabling the user or signing out everywhere ends access.
Rules on a migrated catalogue (SQLite and PostgreSQL); the flow through the real app and CLI."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from portail import operations
from portail.api.app import create_app
from portail.auth import oauth2, services
from portail.auth.audit import query
from portail.auth.models import OAuthCode, OAuthToken
from portail.auth.passwords import digest
from portail.catalog import services as catalog_services, transaction
from portail.cli import app as cli_app
from tests.conftest import make_instance

PASSWORD = "Correct-horse-42"
APP_URI = "https://app.example.org/callback"
VERIFIER = "v" * 20 + "-verifier-of-pkce-" + "x" * 20


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# -- rules on the catalogue -----------------------------------------------------------------
def _grant(s, client, user, *, code_challenge=None, scope=None, at=None):
    asked = oauth2.check_authorization(s, client_id=client.id, redirect_uri=APP_URI, response_type="code",
                                       scope=scope, state="xyz", code_challenge=code_challenge,
                                       code_challenge_method="S256" if code_challenge else None)
    return oauth2.issue_code(s, asked, user, at=at)


def test_a_code_is_spent_once_and_a_second_use_revokes_what_it_gave(catalog):
    with transaction(catalog) as s:
        alice = services.create_user(s, "alice")
        client, secret = oauth2.register_client(s, "Tableau de bord", [APP_URI])
        code = _grant(s, client, alice)
    assert len(code) == 30 and secret.startswith("ocs_")
    with transaction(catalog) as s:
        client = oauth2.authenticate_client(s, client.id, secret)
        tokens = oauth2.exchange_code(s, client, code=code, redirect_uri=APP_URI, code_verifier=None)
    assert tokens.expires_in == 3600 and tokens.to_dict()["token_type"] == "Bearer"
    assert tokens.to_dict()["scope"] == "read" and tokens.access_token.startswith("oat_")
    with transaction(catalog) as s:
        assert oauth2.verify_access_token(s, tokens.access_token).user.login == "alice"
        with pytest.raises(oauth2.OAuthError, match="already used") as refused:
            oauth2.exchange_code(s, s.merge(client), code=code, redirect_uri=APP_URI, code_verifier=None)
        assert refused.value.error == "invalid_grant"
    with transaction(catalog) as s:
        assert oauth2.verify_access_token(s, tokens.access_token) is None  # the replay revoked it
        assert query(s, action="oauth.replay")[0] == 1
        assert s.scalar(select(OAuthToken)).access_hash == digest(tokens.access_token)  # digests only


def test_code_checks_client_uri_expiry_and_pkce(catalog):
    at = datetime.now(UTC)
    with transaction(catalog) as s:
        alice = services.create_user(s, "alice")
        client, secret = oauth2.register_client(s, "App", [APP_URI, "http://localhost:8765/cb"])
        other, _ = oauth2.register_client(s, "Other", [APP_URI])
        public, none = oauth2.register_client(s, "Mobile", ["org.example.app:/cb"], public=True)
        old = _grant(s, client, alice, at=at - timedelta(hours=1, seconds=1))
        fresh = _grant(s, client, alice)
        proved = _grant(s, client, alice, code_challenge=challenge(VERIFIER))
    assert none is None
    with transaction(catalog) as s:
        client, other = s.merge(client), s.merge(other)
        cases = [(old, client, APP_URI, None, "expired"), (fresh, other, APP_URI, None, "Unknown authorization code"),
                 (fresh, client, "http://localhost:8765/cb", None, "redirect_uri differs"),
                 (proved, client, APP_URI, None, "code_verifier"), (proved, client, APP_URI, VERIFIER + "x", "code_verifier")]
        for code, who, uri, verifier, message in cases:
            with pytest.raises(oauth2.OAuthError, match=message):
                oauth2.exchange_code(s, who, code=code, redirect_uri=uri, code_verifier=verifier)
        assert oauth2.exchange_code(s, client, code=proved, redirect_uri=APP_URI, code_verifier=VERIFIER).access_token
    with transaction(catalog) as s:
        with pytest.raises(oauth2.OAuthError) as refused:  # a public client must use PKCE
            oauth2.check_authorization(s, client_id=public.id, redirect_uri="org.example.app:/cb", response_type="code",
                                       scope="all", state=None, code_challenge=None, code_challenge_method=None)
        assert refused.value.error == "invalid_request" and refused.value.redirectable
        for kwargs, error, redirectable in [
            ({"client_id": "oc_nope"}, "invalid_client", False),
            ({"redirect_uri": "https://evil.example/cb"}, "invalid_request", False),
            ({"response_type": "token"}, "unsupported_response_type", True),
            ({"scope": "everything"}, "invalid_scope", True),
            ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request", True),
            ({"code_challenge": challenge(VERIFIER), "code_challenge_method": "plain"}, "invalid_request", True),
        ]:
            args = {"client_id": s.merge(client).id, "redirect_uri": APP_URI, "response_type": "code", "scope": None,
                    "state": None, "code_challenge": None, "code_challenge_method": None, **kwargs}
            with pytest.raises(oauth2.OAuthError) as refused:
                oauth2.check_authorization(s, **args)
            assert (refused.value.error, refused.value.redirectable) == (error, redirectable), kwargs
        with pytest.raises(oauth2.OAuthError, match="Client authentication failed"):
            oauth2.authenticate_client(s, s.merge(client).id, "ocs_wrong")
        assert oauth2.authenticate_client(s, public.id, None).id == public.id


def test_refresh_tokens_are_single_use_and_never_widen(catalog):
    with transaction(catalog) as s:
        alice = services.create_user(s, "alice", role="admin")
        client, secret = oauth2.register_client(s, "App", [APP_URI])
        code = _grant(s, client, alice, scope="all")
    with transaction(catalog) as s:
        first = oauth2.exchange_code(s, s.merge(client), code=code, redirect_uri=APP_URI, code_verifier=None)
    assert first.to_dict()["scope"] == "all" and set(first.scopes) == {"read", "manage"}
    with transaction(catalog) as s:
        second = oauth2.refresh_tokens(s, s.merge(client), refresh_token=first.refresh_token, scope="read")
    assert second.scopes == ("read",)
    with transaction(catalog) as s:
        assert oauth2.verify_access_token(s, first.access_token) is None  # spent with its refresh token
        assert oauth2.verify_access_token(s, second.access_token) is not None
        with pytest.raises(oauth2.OAuthError, match="cannot widen"):
            oauth2.refresh_tokens(s, s.merge(client), refresh_token=second.refresh_token, scope="all")
    with transaction(catalog) as s:
        code = _grant(s, s.merge(client), s.merge(alice))
    with transaction(catalog) as s:
        third = oauth2.exchange_code(s, s.merge(client), code=code, redirect_uri=APP_URI, code_verifier=None)
    with transaction(catalog) as s:
        assert oauth2.revoke_client(s, s.merge(client)) == 2  # the two live grants'
        second = third
    with transaction(catalog) as s:
        assert oauth2.verify_access_token(s, second.access_token) is None
        with pytest.raises(oauth2.OAuthError):
            oauth2.authenticate_client(s, client.id, secret)


@pytest.mark.parametrize("uri, accepted", [
    (APP_URI, True), ("http://127.0.0.1:9000/cb", True), ("com.example.app:/cb", True),
    ("http://app.example.org/cb", False), ("https://app.example.org/cb#frag", False), ("/cb", False),
    ("javascript:alert(1)", False)])
def test_redirect_uris_must_be_safe_to_send_codes_to(uri, accepted):
    if accepted:
        assert oauth2.check_redirect_uri(uri) == uri
    else:
        with pytest.raises(ValueError):
            oauth2.check_redirect_uri(uri)


def test_pkce_follows_rfc_7636_appendix_b():
    assert oauth2.pkce_matches("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    assert not oauth2.pkce_matches("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj")


# -- the flow through the app ---------------------------------------------------------------
@pytest.fixture
def site(tmp_path, refdata, monkeypatch):
    monkeypatch.setenv("PORTAIL_HOME", str(tmp_path / "home"))
    instance = make_instance(tmp_path / "home", session_cookie_secure=False, management_token="operator-token")
    with instance.session() as s:
        catalog_services.create_dataset(s, "regions", "Régions", portals=["public", "internal"])
    operations.load_file(instance, "regions", refdata / "referentiels" / "cog2026_regions.csv", publish=True)
    with instance.session() as s:
        alice = services.create_user(s, "alice", role="viewer", password=PASSWORD)
        group = services.create_group(s, "outremer")
        services.add_member(s, group, alice)
        regions = catalog_services.get_dataset(s, "regions")
        services.set_dataset_security(s, regions, visibility="restricted", record_filters={"outremer": 'reg < "10"'},
                                      hidden_fields={"outremer": ["cheflieu"]})
        services.grant(s, regions, "group", "outremer")
    yield instance, TestClient(create_app(instance))
    instance.store.close()


def _register(*args: str) -> dict[str, str]:
    result = CliRunner().invoke(cli_app, ["oauth-client", "create", *args])
    assert result.exit_code == 0, result.output
    return dict(re.findall(r"^(client_id|client_secret)=(\S+)$", result.output, re.M))


def _sign_in(client: TestClient, next_url: str):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"login": "alice", "password": PASSWORD, "next": next_url, "csrf_token": token},
                       follow_redirects=False)


def _consent(client: TestClient, authorize_url: str, decision: str = "allow"):
    page = client.get(authorize_url)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    return page, client.post("/oauth2/authorize/", data={**fields, "decision": decision}, follow_redirects=False)


def test_an_application_reads_what_its_user_may_see(site):
    instance, client = site
    ids = _register("Tableau de bord <DOM>", "--redirect-uri", APP_URI)
    authorize = f"/oauth2/authorize/?client_id={ids['client_id']}&redirect_uri={APP_URI}&response_type=code&scopes=all&state=s1"
    to_login = client.get(authorize, follow_redirects=False)
    assert to_login.status_code == 303 and to_login.headers["location"].startswith("/login?next=/oauth2/authorize/%3F")
    assert _sign_in(client, authorize).headers["location"] == authorize  # back to the consent page
    page, answer = _consent(client, authorize)
    assert "Tableau de bord &lt;DOM&gt;" in page.text and "alice" in page.text
    assert answer.status_code == 303
    back = urlsplit(answer.headers["location"])
    returned = parse_qs(back.query)
    assert f"{back.scheme}://{back.netloc}{back.path}" == APP_URI and returned["state"] == ["s1"]

    app = TestClient(create_app(instance))  # the application's own client: no cookie
    basic = base64.b64encode(f"{ids['client_id']}:{ids['client_secret']}".encode()).decode()
    granted = app.post("/oauth2/token/", data={"grant_type": "authorization_code", "code": returned["code"][0],
                                               "redirect_uri": APP_URI}, headers={"Authorization": f"Basic {basic}"})
    assert granted.status_code == 200, granted.text
    assert granted.headers["cache-control"] == "no-store"
    body = granted.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
    assert (body["expires_in"], body["token_type"], body["scope"]) == (3600, "Bearer", "all")

    records = "/api/explore/v2.1/catalog/datasets/regions/records"
    assert app.get(records).status_code == 404  # anonymous: restricted, unknown
    seen = app.get(records, params={"limit": 100}, headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert seen["total_count"] == 5 and all(r["reg"] < "10" for r in seen["results"])  # the group's rows only
    assert all("cheflieu" not in r for r in seen["results"])  # its hidden field
    by_query = app.get(records, params={"access_token": body["access_token"], "select": "count(*) as n"})
    assert by_query.json()["results"] == [{"n": 5}]
    assert app.get("/interne/api/explore/v2.1/catalog/datasets/regions/records",
                   params={"access_token": body["access_token"], "limit": 0}).json()["total_count"] == 5
    bad = app.get(records, headers={"Authorization": "Bearer oat_forged"})
    assert bad.status_code == 401 and bad.json()["error_code"] == "InvalidToken"
    assert app.get(records, params={"access_token": ""}).status_code == 401

    # the management token keeps its Bearer; a viewer's token cannot manage
    assert app.get("/api/management/v1/users", headers={"Authorization": "Bearer operator-token"}).status_code == 200
    assert app.get("/api/management/v1/users",
                   headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 403

    refreshed = app.post("/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                                "client_id": ids["client_id"], "client_secret": ids["client_secret"]})
    assert refreshed.status_code == 200
    fresh = refreshed.json()["access_token"]
    assert app.get(records, headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 401
    assert app.get(records, headers={"Authorization": f"Bearer {fresh}"}).status_code == 200

    # signing out everywhere ends the applications' access too
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login?next=/").text)
    token = csrf.group(1) if csrf else None
    client.post("/logout-everywhere", headers={"X-CSRF-Token": token or _session_csrf(instance, client)})
    assert app.get(records, headers={"Authorization": f"Bearer {fresh}"}).status_code == 401
    with instance.session() as s:
        assert [e.action for e in query(s, action="oauth.")[1]].count("oauth.token") == 2
    flows = app.get("/api/explore/v2.1/swagger.json").json()["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["authorizationCode"]["tokenUrl"] == "/oauth2/token/"  # documented for client generators


def _session_csrf(instance, client) -> str:
    from portail.auth import sessions

    with instance.session() as s:
        return sessions.find_session(s, client.cookies.get(sessions.COOKIE_NAME)).csrf_token


def test_token_endpoint_errors_follow_rfc_6749(site):
    instance, client = site
    ids = _register("App", "--redirect-uri", APP_URI)
    app = TestClient(create_app(instance))
    cases = [
        ({"grant_type": "password", "client_id": ids["client_id"], "client_secret": ids["client_secret"]}, {}, 400,
         "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "nope", "redirect_uri": APP_URI, "client_id": ids["client_id"],
          "client_secret": ids["client_secret"]}, {}, 400, "invalid_grant"),
        ({"grant_type": "authorization_code", "client_id": ids["client_id"], "client_secret": "ocs_wrong"}, {}, 401,
         "invalid_client"),
        ({"grant_type": "authorization_code"}, {"Authorization": "Basic !!!"}, 401, "invalid_client"),
    ]
    for data, headers, status, error in cases:
        answer = app.post("/oauth2/token/", data=data, headers=headers)
        assert (answer.status_code, answer.json()["error"]) == (status, error), data
        assert answer.json()["error_description"]
        if status == 401:
            assert answer.headers["www-authenticate"] == 'Basic realm="portail"'


def test_authorize_refuses_without_redirecting_to_an_unknown_uri_and_reports_denial(site):
    instance, client = site
    ids = _register("App", "--redirect-uri", APP_URI)
    evil = client.get(f"/oauth2/authorize/?client_id={ids['client_id']}&redirect_uri=https://evil.example/cb"
                      "&response_type=code", follow_redirects=False)
    assert evil.status_code == 400 and "evil.example" not in evil.headers.get("location", "")
    assert "redirect_uri" in evil.text
    french = client.get("/oauth2/authorize/?client_id=oc_nope&response_type=code", headers={"Accept-Language": "fr"})
    assert french.status_code == 400 and "Application inconnue ou révoquée" in french.text
    wrong_type = client.get(f"/oauth2/authorize?client_id={ids['client_id']}&response_type=token&state=q",
                            follow_redirects=False)  # the one registered URI is implied
    assert wrong_type.status_code == 303
    assert wrong_type.headers["location"] == f"{APP_URI}?error=unsupported_response_type&error_description=" \
                                             "Only+response_type%3Dcode+is+supported&state=q"
    authorize = f"/oauth2/authorize/?client_id={ids['client_id']}&response_type=code&state=d"
    _sign_in(client, authorize)
    _, denied = _consent(client, authorize, decision="deny")
    assert parse_qs(urlsplit(denied.headers["location"]).query) == {
        "error": ["access_denied"], "error_description": ["The user denied the request"], "state": ["d"]}
    # the consent form is a cookie POST: without its CSRF token it is refused
    forged = client.post("/oauth2/authorize/", data={"client_id": ids["client_id"], "response_type": "code",
                                                     "decision": "allow"}, follow_redirects=False)
    assert forged.status_code == 403
    with instance.session() as s:
        assert s.scalar(select(OAuthCode)) is None  # nothing was granted


def test_cli_lists_and_revokes_clients(site):
    instance, _ = site
    ids = _register("Public app", "--redirect-uri", "com.example.app:/cb", "--public")
    assert "client_secret" not in ids
    refused = CliRunner().invoke(cli_app, ["oauth-client", "create", "Bad", "--redirect-uri", "http://example.org/cb"])
    assert refused.exit_code == 1 and "must use https" in refused.output
    listed = CliRunner().invoke(cli_app, ["oauth-client", "list", "--json"])
    assert '"public": true' in listed.output and ids["client_id"] in listed.output
    revoked = CliRunner().invoke(cli_app, ["oauth-client", "revoke", ids["client_id"]])
    assert revoked.exit_code == 0 and "revoked, with 0 token(s)" in revoked.output
    with instance.session() as s:
        assert oauth2.get_client(s, ids["client_id"]).revoked_at is not None


def test_two_requests_racing_for_one_code_or_refresh_token_get_one_answer(catalog):
    """The use is the update (``WHERE used_at IS NULL``): the second of two interleaved
    exchanges finds the code spent, and its replay revokes what the first obtained."""
    with transaction(catalog) as s:
        alice = services.create_user(s, "alice")
        client, secret = oauth2.register_client(s, "App", [APP_URI])
        code = _grant(s, client, alice)
    first, second = catalog(), catalog()
    try:
        a, b = first.get(type(client), client.id), second.get(type(client), client.id)
        assert first.get(OAuthCode, digest(code)).used_at is None and second.get(OAuthCode, digest(code)).used_at is None
        tokens = oauth2.exchange_code(first, a, code=code, redirect_uri=APP_URI, code_verifier=None)
        first.commit()
        with pytest.raises(oauth2.OAuthError) as refused:
            oauth2.exchange_code(second, b, code=code, redirect_uri=APP_URI, code_verifier=None)
        assert refused.value.keep_changes
        second.commit()
    finally:
        first.close(), second.close()
    with transaction(catalog) as s:
        assert oauth2.verify_access_token(s, tokens.access_token) is None
    # a spent refresh token presented again revokes the tokens issued after it
    with transaction(catalog) as s:
        code = _grant(s, s.merge(client), s.merge(alice))
    with transaction(catalog) as s:
        one = oauth2.exchange_code(s, s.merge(client), code=code, redirect_uri=APP_URI, code_verifier=None)
    with transaction(catalog) as s:
        two = oauth2.refresh_tokens(s, s.merge(client), refresh_token=one.refresh_token)
    with transaction(catalog) as s:
        with pytest.raises(oauth2.OAuthError, match="used or revoked"):
            oauth2.refresh_tokens(s, s.merge(client), refresh_token=one.refresh_token)
    with transaction(catalog) as s:
        assert oauth2.verify_access_token(s, two.access_token) is None


def test_what_ends_a_users_tokens(catalog):
    with transaction(catalog) as s:
        alice = services.create_user(s, "alice", password=PASSWORD)
        client, _ = oauth2.register_client(s, "App", [APP_URI])
    ends = [lambda s, u: services.set_password(s, u, "Another-horse-43"),
            lambda s, u: services.set_active(s, u, False),
            lambda s, u: services.reset_password(s, services.issue_reset_token(s, u), "Third-horse-44"),
            lambda s, u: __import__("portail.auth.sessions", fromlist=["x"]).close_all_sessions(s, u)]
    for end in ends:
        with transaction(catalog) as s:
            user = services.get_user(s, "alice")
            services.set_active(s, user, True)
            code = _grant(s, s.merge(client), user)
        with transaction(catalog) as s:
            tokens = oauth2.exchange_code(s, s.merge(client), code=code, redirect_uri=APP_URI, code_verifier=None)
        with transaction(catalog) as s:
            end(s, services.get_user(s, "alice"))
        with transaction(catalog) as s:
            services.set_active(s, services.get_user(s, "alice"), True)  # enabling again revives nothing
        with transaction(catalog) as s:
            assert oauth2.verify_access_token(s, tokens.access_token) is None, end
            with pytest.raises(oauth2.OAuthError):
                oauth2.refresh_tokens(s, s.merge(client), refresh_token=tokens.refresh_token)


def test_an_application_cannot_create_credentials_or_open_access(site):
    """An admin's token with ``all`` reads as the admin but never creates keys or users nor
    changes security: those would outlive the token and its revocation. (The management API asks
    ``manage_users`` of every caller but the operator: it is closed to applications.)"""
    instance, client = site
    with instance.session() as s:
        services.set_role(s, services.get_user(s, "alice"), "admin")
    ids = _register("Admin tool", "--redirect-uri", APP_URI)
    authorize = f"/oauth2/authorize/?client_id={ids['client_id']}&response_type=code&scope=all"
    _sign_in(client, authorize)
    code = parse_qs(urlsplit(_consent(client, authorize)[1].headers["location"]).query)["code"][0]
    app = TestClient(create_app(instance))
    token = app.post("/oauth2/token/", data={"grant_type": "authorization_code", "code": code, "redirect_uri": APP_URI,
                                             "client_id": ids["client_id"], "client_secret": ids["client_secret"]})
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    management = "/api/management/v1"
    assert app.post(f"{management}/apikeys", json={"scopes": ["read", "manage"]}, headers=bearer).status_code == 403
    assert app.post(f"{management}/users", json={"login": "mallory", "role": "admin"}, headers=bearer).status_code == 403
    assert app.get(f"{management}/users", headers=bearer).status_code == 403
    assert app.get(f"{management}/datasets", headers=bearer).status_code == 403  # the management API is the admins'
    assert app.get("/api/explore/v2.1/catalog/datasets/regions/records", headers=bearer).status_code == 200


def test_token_endpoint_hardening(site):
    instance, client = site
    ids = _register("App", "--redirect-uri", APP_URI)
    authorize = f"/oauth2/authorize/?client_id={ids['client_id']}&response_type=code&state=z"
    _sign_in(client, authorize)
    page, answer = _consent(client, authorize)
    assert page.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    app = TestClient(create_app(instance))
    basic = base64.b64encode(f"{ids['client_id']}:{ids['client_secret']}".encode()).decode()
    both = app.post("/oauth2/token/", headers={"Authorization": f"Basic {basic}"},
                    data={"grant_type": "authorization_code", "code": code, "redirect_uri": APP_URI,
                          "client_secret": "ocs_other"})
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    downgrade = app.post("/oauth2/token/", headers={"Authorization": f"Basic {basic}"},
                         data={"grant_type": "authorization_code", "code": code, "redirect_uri": APP_URI,
                               "code_verifier": VERIFIER})
    assert downgrade.status_code == 400 and "without code_challenge" in downgrade.json()["error_description"]
    # the authorization request implied the client's one redirect URI: the token request may omit it (§4.1.3)
    granted = app.post("/oauth2/token/", headers={"Authorization": f"Basic {basic}"},
                       data={"grant_type": "authorization_code", "code": code})
    assert granted.status_code == 200, granted.text
    access = granted.json()["access_token"]
    records = "/api/explore/v2.1/catalog/datasets/regions/records"
    assert app.get(records, headers={"Authorization": f"Bearer {access}"}).status_code == 200
    replay = app.post("/oauth2/token/", headers={"Authorization": f"Basic {basic}"},
                      data={"grant_type": "authorization_code", "code": code, "redirect_uri": APP_URI})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    revoked = app.get(records, headers={"Authorization": f"Bearer {access}"})  # the replay revoked it, committed
    assert revoked.status_code == 401 and revoked.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    with instance.session() as s:
        assert query(s, action="oauth.replay")[0] == 1


def test_the_access_log_masks_credentials_in_urls():
    import logging

    from portail.api.access_log import RedactSecrets, log_config, redact

    assert redact("/api/x?apikey=pk_secret&limit=1&ACCESS_TOKEN=oat_t") == "/api/x?apikey=***&limit=1&ACCESS_TOKEN=***"
    assert redact("/r?access%5Ftoken=oat_t&%61pikey=pk_k&q=apikey%3Dx") == "/r?access%5Ftoken=***&%61pikey=***&q=apikey%3Dx"
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "GET", "/r?access_token=oat_abc", "1.1", 200), None)
    assert RedactSecrets().filter(record) and "oat_abc" not in record.getMessage()
    assert log_config()["handlers"]["access"]["filters"] == ["redact_secrets"]


def test_administrators_register_and_revoke_applications_through_the_management_api(site):
    instance, client = site
    api, operator = "/api/management/v1/oauth-clients", {"Authorization": "Bearer operator-token"}
    app = TestClient(create_app(instance))
    created = app.post(api, json={"name": "Tableau de bord", "redirect_uris": [APP_URI]}, headers=operator)
    assert created.status_code == 201 and created.json()["client_secret"].startswith("ocs_")
    client_id = created.json()["client_id"]
    public = app.post(api, json={"name": "Mobile", "redirect_uris": ["org.example.app:/cb"], "public": True},
                      headers=operator).json()
    assert public["client_secret"] is None and public["public"] is True
    listed = app.get(api, headers=operator).json()["results"]
    assert {c["client_id"] for c in listed} == {client_id, public["client_id"]}
    assert all("secret" not in key for c in listed for key in c)  # never shown again
    for body in ({"name": "x", "redirect_uris": ["http://example.org/cb"]}, {"name": "x", "redirect_uris": []},
                 {"name": "", "redirect_uris": [APP_URI]}, {"name": "x", "redirect_uris": [APP_URI], "extra": 1}):
        refused = app.post(api, json=body, headers=operator)
        assert refused.status_code == 400 and refused.json()["error_code"], body
    with instance.session() as s:  # a non-admin's manage key may not register applications
        _, viewer_key = services.create_api_key(s, services.create_user(s, "pat", role="publisher"), "k",
                                                scopes=["read", "manage"])
    assert app.post(api, json={"name": "x", "redirect_uris": [APP_URI]},
                    headers={"Authorization": f"Apikey {viewer_key}"}).status_code == 403
    authorize = f"/oauth2/authorize/?client_id={client_id}&response_type=code"
    _sign_in(client, authorize)
    code = parse_qs(urlsplit(_consent(client, authorize)[1].headers["location"]).query)["code"][0]
    token = app.post("/oauth2/token/", data={"grant_type": "authorization_code", "code": code, "client_id": client_id,
                                             "client_secret": created.json()["client_secret"]}).json()["access_token"]
    revoked = app.delete(f"{api}/{client_id}", headers=operator)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked" and revoked.json()["tokens_revoked"] == 1
    assert app.get("/api/explore/v2.1/catalog/datasets/regions/records",
                   headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert app.delete(f"{api}/oc_unknown", headers=operator).status_code == 404
