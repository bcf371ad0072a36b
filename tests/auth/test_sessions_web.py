"""Sign-in through the real app: session cookie, CSRF refusals, safe `next`, lockout, logout
(everywhere), password reset, password sign-in turned off on the internal portal."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from portail.api.app import create_app
from portail.auth import principal_from_request, services, sessions
from portail.auth.audit import query
from tests.conftest import make_instance

PASSWORD = "Correct-horse-42"


@pytest.fixture
def site(tmp_path):
    instance = make_instance(tmp_path / "home", session_cookie_secure=False, auth_max_failed_logins=3,
                             local_login_disabled_portals=["internal"])
    with instance.session() as s:
        services.create_user(s, "alice", role="viewer", password=PASSWORD)
    yield instance, TestClient(create_app(instance))
    instance.store.close()


def form_token(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(client: TestClient, next_path: str = "/explore/", password: str = PASSWORD):
    token = form_token(client)
    return client.post("/login", data={"login": "alice", "password": password, "next": next_path,
                                       "csrf_token": token}, follow_redirects=False)


def test_login_sets_a_secure_session_cookie_and_the_pages_know_the_user(site):
    instance, client = site
    response = sign_in(client)
    assert response.status_code == 303 and response.headers["location"] == "/explore/"
    cookie = [c for c in response.headers.get_list("set-cookie") if c.startswith(sessions.COOKIE_NAME + "=")][0]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=28800" in cookie
    assert "alice" in client.get("/").text
    token = client.cookies.get(sessions.COOKIE_NAME)
    principal = principal_from_request({}, {}, instance.catalog, cookies={sessions.COOKIE_NAME: token})
    assert principal.login == "alice" and principal.scopes is None and principal.key_id is None
    with instance.session() as s:  # only the digest is stored
        assert sessions.find_session(s, token) is not None
        assert s.get(sessions.LoginSession, token) is None


def test_cookie_is_secure_by_default(tmp_path):
    instance = make_instance(tmp_path / "home")
    with instance.session() as s:
        services.create_user(s, "alice", password=PASSWORD)
    client = TestClient(create_app(instance), base_url="https://testserver")
    response = sign_in(client)
    assert any("Secure" in c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-portail_session="))


def test_login_without_or_with_a_wrong_csrf_token_is_refused(site):
    _, client = site
    form_token(client)
    for data in ({"login": "alice", "password": PASSWORD},
                 {"login": "alice", "password": PASSWORD, "csrf_token": "forged"}):
        refused = client.post("/login", data=data, follow_redirects=False)
        assert refused.status_code == 403 and refused_form(refused.text)  # a page, in the visitor's language
    assert client.cookies.get(sessions.COOKIE_NAME) is None


def test_state_changing_requests_by_cookie_need_the_session_token(site):
    instance, client = site
    sign_in(client)
    # no token: refused, the session survives
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.post("/api/management/v1/groups", json={"name": "x"}).status_code == 403
    # the pre-login double-submit token is no longer accepted once signed in
    assert client.post("/logout", data={"csrf_token": "anything"}, follow_redirects=False).status_code == 403
    page = client.get("/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert "alice" not in client.get("/").text


def test_api_key_requests_are_exempt_from_csrf(site):
    instance, client = site
    with instance.session() as s:
        admin = services.create_user(s, "root", role="admin")
        _, secret = services.create_api_key(s, admin, scopes=["manage"])
    created = client.post("/api/management/v1/groups", json={"name": "agents"},
                          headers={"Authorization": f"Apikey {secret}"})
    assert created.status_code == 201


@pytest.mark.parametrize("target,expected", [
    ("/explore/?q=eau", "/explore/?q=eau"), ("https://evil.example/", "/"), ("//evil.example/x", "/"),
    ("/\\evil.example", "/"), ("javascript:alert(1)", "/")])
def test_next_is_followed_only_within_the_site(site, target, expected):
    _, client = site
    assert sign_in(client, target).headers["location"] == expected


def test_lockout_after_failures_and_audit(site):
    instance, client = site
    for _ in range(3):
        assert sign_in(client, password="wrong-password-1A").status_code == 401
    locked = sign_in(client)  # right password, but locked now
    assert locked.status_code == 401 and "Trop de connexions échouées" in locked.text  # the page speaks French by default
    with instance.session() as s:
        total, events = query(s, action="login.")
        assert total == 4 and {e.action for e in events} == {"login.failure"}
        assert query(s, action="user.lock")[0] == 1


def test_logout_everywhere_ends_every_session(site):
    instance, client = site
    other = TestClient(client.app)
    sign_in(client), sign_in(other)
    assert "alice" in other.get("/").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    assert client.post("/logout-everywhere", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert "alice" not in other.get("/").text and "alice" not in client.get("/").text
    with instance.session() as s:
        assert query(s, action="logout.everywhere")[0] == 1


def test_expired_and_disabled_sessions_are_anonymous(site):
    instance, client = site
    sign_in(client)
    token = client.cookies.get(sessions.COOKIE_NAME)
    with instance.session() as s:
        services.set_active(s, services.get_user(s, "alice"), False)
    assert principal_from_request({}, {}, instance.catalog, cookies={sessions.COOKIE_NAME: token}).login is None
    with instance.session() as s:
        user = services.get_user(s, "alice")
        services.set_active(s, user, True)
        from datetime import UTC, datetime, timedelta
        opened = sessions.open_session(s, user, ttl=timedelta(minutes=5), at=datetime.now(UTC) - timedelta(minutes=6))
    assert principal_from_request({}, {}, instance.catalog, cookies={sessions.COOKIE_NAME: opened.token}).login is None


def test_password_sign_in_is_off_on_the_internal_portal(site):
    _, client = site
    page = client.get("/interne/login")
    assert page.status_code == 200 and 'name="password"' not in page.text
    token = form_token(client)  # the double-submit cookie is site-wide
    refused = client.post("/interne/login", data={"login": "alice", "password": PASSWORD, "csrf_token": token},
                          follow_redirects=False)
    assert refused.status_code == 403 and client.cookies.get(sessions.COOKIE_NAME) is None
    assert sign_in(client, "/interne/").headers["location"] == "/interne/"  # the public portal's form still works


def test_password_reset_page(site):
    instance, client = site
    with instance.session() as s:
        token = services.issue_reset_token(s, services.get_user(s, "alice"))
    csrf = form_token(client, f"/reset-password?token={token}")
    bad = client.post("/reset-password", data={"token": "nope", "password": "Another-pass-99", "csrf_token": csrf})
    assert bad.status_code == 400
    done = client.post("/reset-password", data={"token": token, "password": "Another-pass-99", "csrf_token": csrf})
    assert done.status_code == 200
    assert sign_in(client, password="Another-pass-99").status_code == 303


def test_signed_in_pages_are_not_kept_by_the_browser(site):
    """After sign-out, Back must not show a restricted page again from the browser's cache."""
    _, client = site
    assert "no-store" not in client.get("/explore/").headers.get("cache-control", "")  # anonymous pages may be kept
    sign_in(client)
    for path in ("/", "/explore/", "/interne/explore/"):
        assert client.get(path).headers["cache-control"] == "private, no-store", path
    assert "no-store" not in client.get("/static/portail.css").headers.get("cache-control", "")


def test_sign_in_errors_speak_the_page_language(site):
    _, client = site
    french = {"Accept-Language": "fr-FR"}
    token = form_token(client)
    wrong = client.post("/login", data={"login": "alice", "password": "nope", "csrf_token": token}, headers=french)
    assert wrong.status_code == 401 and "Identifiant ou mot de passe incorrect" in wrong.text
    english = client.post("/login", data={"login": "alice", "password": "nope", "csrf_token": token},
                          headers={"Accept-Language": "en"})
    assert "Invalid login or password" in english.text
    reset = client.post("/reset-password", data={"token": "bogus", "password": "x", "csrf_token": token}, headers=french)
    assert "Ce lien de changement de mot de passe n&#39;est pas valide, ou a expiré" in reset.text
    with site[0].session() as s:
        secret = services.issue_reset_token(s, services.get_user(s, "alice"))
    weak = client.post("/reset-password", data={"token": secret, "password": "alice-1", "csrf_token": token},
                       headers=french)
    assert "Le mot de passe doit compter au moins 12 caractères ; ne pas contenir l&#39;identifiant" in weak.text


def refused_form(page: str) -> bool:
    """The page of a form refused for its CSRF token (``web.routes.refused_form_page``)."""
    return 'role="alert"' in page and ("form has expired" in page or "formulaire a expiré" in page)


@pytest.mark.parametrize("base_url, hinted", [("http://portail.example.org", True), ("https://portail.example.org", False),
                                              ("http://127.0.0.1", False)])
def test_a_refused_form_over_plain_http_says_the_operators_fix(tmp_path, base_url, hinted):
    """Over plain HTTP, off this machine, browsers drop the Secure cookie holding the form's
    token: every sign-in is refused, and the page says why and what the operator must do."""
    instance = make_instance(tmp_path / "home")  # cookies Secure, the default
    client = TestClient(create_app(instance), base_url=base_url)
    refused = client.post("/login?lang=en", data={"login": "alice", "password": PASSWORD}, follow_redirects=False)
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert refused_form(refused.text)
    assert ("PORTAIL_SESSION_COOKIE_SECURE=false" in refused.text) is hinted
    instance.store.close()


def test_the_management_api_refuses_a_non_admin_saying_whose_it_is(site):
    """A publisher's session asking for the datasets was told "You are not allowed to manage
    users.", a right the call had nothing to do with."""
    instance, client = site
    with instance.session() as s:
        services.set_role(s, services.get_user(s, "alice"), "publisher")
    sign_in(client)
    refused = client.get("/api/management/v1/datasets")
    assert refused.status_code == 403 and refused.json()["message"] == (
        "The management API is for the instance's administrators: an admin's session or API key (with the manage "
        "scope), or the management token.")
