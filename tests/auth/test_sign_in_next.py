"""Where signing in and out sends the reader: back to a page, never to a form's POST-only address
(``/logout``, ``/account/apikeys``, which landed the reader on a bare JSON 405:
``auth_routes.NOT_PAGES``), never off the site (``safe_next``)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.web.auth_routes import safe_next
from tests.conftest import make_instance


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An instance without datasets nor accounts: the sign-out form is all these tests post."""
    instance = make_instance(tmp_path_factory.mktemp("sign-in-next") / "home", session_cookie_secure=False)
    yield instance, TestClient(create_app(instance))  # the test client speaks plain HTTP
    instance.store.close()


def test_a_next_to_a_post_only_address_lands_on_the_home(site):
    _, client = site
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    for target in ("/logout", "/logou%74", "/logout-everywhere/", "/interne/logout?lang=en", "/account/apikeys"):
        answer = client.post("/logout", params={"next": target}, data={"csrf_token": token}, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/"), target
    for target in ("//evil.example/", "/\\evil.example", "https://evil.example/", "/\t/evil.example"):
        assert safe_next(target, "/interne") == "/interne/", target
    # pages, the account's and the consent's included, are followed
    for target in ("/explore/?q=logout", "/account?lang=en", "/oauth2/authorize?client_id=x", "/interne/"):
        assert safe_next(target, "") == target
