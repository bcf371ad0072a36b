"""A sign-in form posted as ``multipart/form-data`` (a plain HTML form's other ``enctype``, sent
cross-site without a preflight) is CSRF-checked as the URL-encoded one is: the pages read their
fields from it alike, and a forged one signed the visitor in to the forger's account
(``api.guard._is_form``). An API's multipart call without a session stays its route's to answer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth, sessions
from tests.conftest import fast_passwords, make_instance

PASSWORD = "Correct-Horse-42!"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An instance with one local account, ``mallory``: the forger's."""
    with fast_passwords():
        instance = make_instance(tmp_path_factory.mktemp("csrf-multipart"), session_cookie_secure=False)
        with instance.session() as s:
            auth.create_user(s, "mallory", password=PASSWORD)
    yield instance
    instance.store.close()


def _signed_in(response) -> bool:
    return sessions.COOKIE_NAME in response.headers.get("set-cookie", "")


@pytest.mark.parametrize("root", ["", "/interne"])
def test_a_multipart_sign_in_form_without_its_token_signs_nobody_in(site, root):
    """Another site's page posts the forger's credentials as multipart: refused as the
    URL-encoded form is, on both portals; the same form with the token still signs in."""
    browser = TestClient(create_app(site))
    fields = {"login": (None, "mallory"), "password": (None, PASSWORD)}
    forged = browser.post(f"{root}/login", files=fields, follow_redirects=False)
    assert forged.status_code == 403 and not _signed_in(forged)
    token = browser.get(f"{root}/login").cookies.get("portail_csrf")
    own = browser.post(f"{root}/login", files=fields, headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert own.status_code == 303 and _signed_in(own)


def test_a_multipart_api_call_without_a_session_is_still_answered_by_its_route(site):
    """No session, no ambient right: an API's multipart call is its route's to answer (401
    without credentials), not a CSRF refusal."""
    answer = TestClient(create_app(site)).post("/api/management/v1/datasets/x/data", files={"file": ("a.csv", b"a\n1\n")})
    assert answer.status_code == 401
