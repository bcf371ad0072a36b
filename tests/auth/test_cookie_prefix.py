"""Security cookies named ``__Host-`` when Secure, and two SSO sign-ins started at once.

Over HTTPS (``TestClient`` on ``https://``, cookies Secure as by default) against the real OIDC
provider process of tests/auth/oidc_provider.py: a cookie a sibling subdomain plants under the
plain name is never read, and two tabs of a browser without an SSO key both finish.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient

from portail.api.app import create_app
from portail.web.auth_routes import SSO_BROWSER_COOKIE
from tests.auth.oidc_process import provider
from tests.conftest import make_instance

HOST_KEY = "__Host-" + SSO_BROWSER_COOKIE


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An instance with SSO and Secure cookies (the default), served over HTTPS."""
    with provider() as issuer:
        instance = make_instance(tmp_path_factory.mktemp("prefix") / "home", oidc_issuer=issuer,
                                 oidc_client_id="portail", oidc_client_secret="s3cret")
        yield instance
        instance.store.close()


def browser(instance) -> TestClient:
    return TestClient(create_app(instance), base_url="https://testserver", headers={"Accept-Language": "en"})


def set_cookies(response: httpx.Response, name: str) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith(name + "=")]


def callback_of(start: httpx.Response, user: str) -> str:
    """The callback path the provider sends ``user`` back to, for the sign-in ``start`` began."""
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    fields = {k: v[0] for k, v in parse_qs(urlparse(authorize).query).items()}
    with httpx.Client(timeout=30) as idp:
        back = idp.post(authorize.split("?")[0], data={**fields, "username": user})
    assert back.status_code == 302
    target = urlparse(back.headers["location"])
    return f"{target.path}?{target.query}"


def shown_error(page: httpx.Response) -> str:
    return html.unescape(page.text.split('<p class="error" role="alert">')[1].split("</p>")[0])


def test_the_sso_key_is_a_host_only_cookie_when_secure(site):
    client = browser(site)
    for response in (client.get("/interne/login"), client.get("/interne/login/sso", follow_redirects=False)):
        [cookie] = set_cookies(response, HOST_KEY)
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"secure", "httponly", "path"} <= attributes and "domain" not in attributes
        assert "Path=/;" in cookie + ";" and not set_cookies(response, SSO_BROWSER_COOKIE)


def test_an_sso_key_planted_under_the_plain_name_is_never_read(site):
    """A sibling subdomain plants its own key for this host (``Domain=`` the parent) under the
    plain name, then has the victim open the callback link of a sign-in it started with that
    key: the victim was signed into its account (login CSRF). Read under ``__Host-`` only, the
    planted key binds nothing, neither that callback nor the victim's own next sign-in."""
    attacker = browser(site)
    start = attacker.get("/interne/login/sso", follow_redirects=False)
    [planted] = [value for name, value in attacker.cookies.items() if name.endswith(SSO_BROWSER_COOKIE)]
    link = callback_of(start, "alice")
    victim = browser(site)
    victim.cookies.set(SSO_BROWSER_COOKIE, planted)
    opened = victim.get(link, follow_redirects=False)
    assert opened.status_code == 401 and "portail_session" not in str(victim.cookies)
    own = victim.get("/interne/login/sso", follow_redirects=False)
    [cookie] = set_cookies(own, HOST_KEY)
    assert planted not in cookie
    assert victim.get(callback_of(own, "bob"), follow_redirects=False).headers["location"] == "/interne/"
    assert attacker.get(link, follow_redirects=False).status_code == 303  # the attacker's own, in its browser


def started_at_once(client: TestClient, count: int = 2) -> list[httpx.Response]:
    """``count`` sign-ins started at the same instant in ``client``'s browser: every request
    carries the cookies it had before any answer came back (httpx sets the Cookie header when
    a request is built); the later answers' cookies win, as in a browser."""
    requests = [client.build_request("GET", "/interne/login/sso", params={"next": f"/interne/?tab={i}"})
                for i in range(count)]
    return [client.send(request, follow_redirects=False) for request in requests]


def test_two_tabs_signing_in_at_once_from_the_login_page_both_finish(site):
    """Two tabs of a browser without an SSO key, both following the login page's SSO button at
    once: each start made its own key, the later cookie won and the other tab's callback was
    refused. The login page sets the key now, which both starts read."""
    client = browser(site)
    assert client.get("/interne/login").status_code == 200
    first, second = started_at_once(client)
    links = [callback_of(first, "alice"), callback_of(second, "alice")]
    finished = [client.get(link, follow_redirects=False) for link in links]
    assert [(f.status_code, f.headers.get("location")) for f in finished] == [
        (303, "/interne/?tab=0"), (303, "/interne/?tab=1")]


def test_two_tabs_starting_at_once_without_a_key_are_told_to_sign_in_again(site):
    """Started at once straight at ``/login/sso`` (no login page before), the earlier tab's state
    is bound to a key the browser no longer holds: that tab is refused, told to sign in again,
    and signing in again finishes (the browser keeps one key from then on)."""
    client = browser(site)
    first, second = started_at_once(client)
    links = [callback_of(first, "alice"), callback_of(second, "alice")]
    refused = client.get(links[0], follow_redirects=False)
    assert refused.status_code == 401
    assert shown_error(refused) == "This sign-in link has expired; please sign in again"
    assert client.get(links[1], follow_redirects=False).status_code == 303
    again = client.get("/interne/login/sso", follow_redirects=False)
    assert client.get(callback_of(again, "alice"), follow_redirects=False).status_code == 303


def test_session_and_form_cookies_are_host_only_and_planted_plain_ones_are_not_read(site):
    """The session and the double-submit form cookie, Secure, go by ``__Host-`` names: a sibling
    subdomain's plain ``portail_csrf`` (its value echoed in its forged login form) no longer signs
    the victim into its account, its plain ``portail_session`` (its own session's token) signs
    nobody in; sign-out deletes the cookie Secure, as a browser heeds for a ``__Host-`` one."""
    from portail.auth import services

    with site.session() as s:
        services.create_user(s, "carol", password="Correct-horse-42")
    attacker = browser(site)
    login = attacker.get("/login")
    [form_cookie] = set_cookies(login, "__Host-portail_csrf")
    assert "Secure" in form_cookie and "Domain" not in form_cookie
    signed = attacker.post("/login", data={"login": "carol", "password": "Correct-horse-42",
                                           "csrf_token": attacker.cookies["__Host-portail_csrf"]},
                           follow_redirects=False)
    [session_cookie] = set_cookies(signed, "__Host-portail_session")
    assert signed.status_code == 303 and "Secure" in session_cookie and "Domain" not in session_cookie
    assert "carol" in attacker.get("/").text

    victim = browser(site)
    victim.cookies.set("portail_csrf", "planted")
    forged = victim.post("/login", data={"login": "carol", "password": "Correct-horse-42", "csrf_token": "planted"},
                         follow_redirects=False)
    assert forged.status_code == 403
    victim.cookies.set("portail_session", attacker.cookies["__Host-portail_session"])
    assert "carol" not in victim.get("/").text

    page = attacker.get("/")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    out = attacker.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    [deleted] = set_cookies(out, "__Host-portail_session")
    assert "Secure" in deleted and "Max-Age=0" in deleted


def test_the_sign_in_pages_handing_out_keys_are_kept_by_no_cache(site):
    """An anonymous visitor's login page sets its SSO key and form cookie, and anonymous pages
    may otherwise be kept by a shared cache (``api.guard`` marks only signed-in answers): kept,
    one visitor's key went to the next, and a key the attacker read from the cache bound the
    victim's callback to the attacker's sign-in again, ``__Host-`` or not."""
    client = browser(site)
    for path in ("/interne/login", "/login", "/reset-password?token=x"):
        page = client.get(path)
        assert page.status_code == 200 and set_cookies(page, HOST_KEY), path
        assert "no-store" in page.headers.get("cache-control", ""), path
        client.cookies.clear()
