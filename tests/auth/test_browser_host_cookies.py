"""``__Host-`` sign-in cookies in a real Chromium, with the default Secure setting, on
http://127.0.0.1 (a trustworthy origin, where Chromium keeps Secure and ``__Host-`` cookies): a
password sign-in, a single sign-on against the real OIDC provider process, and sign-out, which
must remove the cookie from the browser (a ``__Host-`` cookie's deletion without ``Secure`` is
ignored: the browser kept sending a closed session's token)."""

from __future__ import annotations

import pytest

from portail.auth import services as auth
from tests.auth.oidc_process import provider
from tests.browser import browser  # noqa: F401 - the fixture
from tests.conftest import fast_passwords, make_instance
from tests.live import live_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "Correct-horse-42"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Secure cookies as by default (no PORTAIL_SESSION_COOKIE_SECURE), SSO configured."""
    home = tmp_path_factory.mktemp("host-cookies") / "home"
    with provider() as issuer:
        instance = make_instance(home)
        with fast_passwords(), instance.session() as s:
            auth.create_user(s, "agent", role="publisher", password=PASSWORD)
        instance.store.close()
        env = {"PORTAIL_OIDC_ISSUER": issuer, "PORTAIL_OIDC_CLIENT_ID": "portail",
               "PORTAIL_OIDC_CLIENT_SECRET": "s3cret"}
        with live_server(home, env=env) as base:
            yield base


def cookies(context) -> dict[str, dict]:
    return {c["name"]: c for c in context.cookies()}


def signed_out(page, context) -> None:
    page.click("form.signout button")
    page.wait_for_load_state()
    assert not page.locator("form.signout").count()
    assert not any(name.endswith("portail_session") for name in cookies(context))


def test_password_sign_in_and_out_with_host_cookies_on_127_0_0_1(browser, server):  # noqa: F811
    with browser.new_context(locale="en-GB") as context:
        page = context.new_page()
        page.goto(server + "/login")
        kept = cookies(context)
        assert kept["__Host-portail_csrf"]["secure"] and kept["__Host-portail_sso_browser"]["secure"]
        page.fill("#login", "agent")
        page.fill("#password", PASSWORD)
        page.click(".auth button[type=submit]")
        page.wait_for_load_state()
        session = cookies(context)["__Host-portail_session"]
        assert session["secure"] and session["httpOnly"] and session["path"] == "/"
        assert "__Host-portail_csrf" not in cookies(context)  # the session's own token took over
        assert page.locator("form.signout").count() == 1
        signed_out(page, context)


def test_single_sign_on_and_out_with_host_cookies_on_127_0_0_1(browser, server):  # noqa: F811
    with browser.new_context(locale="en-GB") as context:
        page = context.new_page()
        page.goto(server + "/interne/login")
        page.click("a.button[href*='/login/sso']")
        page.fill("input[name=username]", "alice")
        page.click("button")
        page.wait_for_url(server + "/interne/")
        assert cookies(context)["__Host-portail_session"]["secure"]
        signed_out(page, context)
