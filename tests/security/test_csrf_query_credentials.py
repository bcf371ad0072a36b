"""Sign-in CSRF: a credential named in the query string (``?apikey=``, even empty, or
``?access_token=``) spares the CSRF check of the APIs' callers only: it switched the check off
for every request, the pages' forms included, and a forged sign-in form signed the visitor in to
the forger's account (fixed in ``api.guard``); a sign-in form posted as ``multipart/form-data``
(a plain HTML form's other ``enctype``, sent cross-site without a preflight) is checked as the
URL-encoded one is (``api.guard._is_form``), an API's multipart call without a session staying
its route's to answer. On the same instance, a records cursor (``after=``) on the version a
reload replaced, which read a hidden column in clear under the name it had before the reload
renamed it (fixed in ``api.explore_service``: such a walk is told to start again).

One small instance of its own (built in about a second):

- ``paie`` (public): the default ruleset hides ``salaire``; a reload renames that column
  ``remuneration`` (``test_a_cursor_on_a_replaced_version_keeps_the_renamed_field_hidden``);
- ``projet`` (restricted): granted to the user ``ub`` only;
- users ``ua`` (signs in with a password; the forger of the multipart form), ``ub`` (a key).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from portail import operations
from portail.api import create_app
from portail.auth import services as auth, sessions
from portail.catalog import services
from tests.conftest import Published, fast_passwords, published_instance, semicolon_csv

PAIE, PROJET = "paie", "projet"
RECORDS = f"/api/explore/v2.1/catalog/datasets/{PAIE}/records"
PASSWORD = "Correct-Horse-42!"
SALARIES = [dict(nom=f"agent{i}", salaire=str(31400 + i)) for i in range(6)]


class Site:
    def __init__(self, instance, keys: dict[str, str]):
        self.instance, self.keys = instance, keys

    def client(self) -> TestClient:
        """A browser of its own (cookies are per client)."""
        return TestClient(create_app(self.instance))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with fast_passwords():  # argon2 at its cheapest while the accounts are made
        home = tmp_path_factory.mktemp("hunt7")
        instance = published_instance(
            home,
            Published(PAIE, semicolon_csv(home / "paie.csv", SALARIES), "Paie"),
            Published(PROJET, semicolon_csv(home / "projet.csv", [dict(code="PRJSECRET7", budget="10")]), "Projet"),
            session_cookie_secure=False,  # the test client speaks plain HTTP
        )
        keys: dict[str, str] = {}
        with instance.session() as s:
            auth.set_dataset_security(s, services.get_dataset(s, PAIE), hidden_fields={"*": ["salaire"]})
            auth.set_dataset_security(s, services.get_dataset(s, PROJET), visibility="restricted")
            users = {login: auth.create_user(s, login, password=PASSWORD) for login in ("ua", "ub")}
            auth.grant(s, services.get_dataset(s, PROJET), "user", "ub")
            for login, user in users.items():
                _, keys[login] = auth.create_api_key(s, user, login)
    yield Site(instance, keys)
    instance.store.close()


def _signed_in(response) -> bool:
    return sessions.COOKIE_NAME in response.headers.get("set-cookie", "")


# -- leaks found, now fixed ------------------------------------------------------------------------------------
def test_a_key_parameter_does_not_lift_the_csrf_check_of_a_page_form(site):
    """``auth.csrf.needs_check`` exempts requests naming their caller ("a browser never adds
    these on its own"), and ``api.guard`` counted ``?apikey=`` and ``?access_token=`` among
    them. But a page on another site writes a query string into its form's action: posting
    ``/login?apikey=`` (empty, refused, or the forger's own key) with the forger's login and
    password signed the visitor's browser in to the forger's account, the login CSRF the
    double-submit cookie is there to stop; ``/logout-everywhere`` likewise ended a session."""
    form = {"login": "ua", "password": PASSWORD, "next": "/"}
    for query in ("", "?apikey=", "?apikey=pk_not_a_key", "?access_token=", f"?apikey={site.keys['ub']}",
                  f"?access_token={site.keys['ub']}"):
        for root in ("", "/interne"):
            forged = site.client().post(f"{root}/login{query}", data=form, follow_redirects=False)
            assert forged.status_code == 403 and not _signed_in(forged), (root, query)
    browser = site.client()
    page = browser.get("/login")  # the real form: its double-submit cookie and token
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    signed = browser.post("/login", data={**form, "csrf_token": token}, follow_redirects=False)
    assert signed.status_code == 303 and _signed_in(signed)  # the form itself still signs in
    forged = browser.post("/logout-everywhere?apikey=", follow_redirects=False)
    assert forged.status_code == 403
    assert browser.get("/account", follow_redirects=False).status_code == 200  # still signed in


def test_api_calls_naming_their_key_in_the_query_need_no_csrf_token(site):
    """The fix keeps the exemption where it is sound: on the APIs a query credential is the
    caller (scripts POST v1's read routes with ``?apikey=``), even beside a session cookie."""
    browser = site.client()
    with site.instance.session() as s:
        browser.cookies.set(sessions.COOKIE_NAME, sessions.open_session(s, auth.get_user(s, "ua")).token)
    answer = browser.post(f"/api/records/1.0/search?apikey={site.keys['ub']}", data={"dataset": PROJET})
    assert answer.status_code == 200 and "PRJSECRET7" in answer.text
    refused = browser.post("/api/records/1.0/search?apikey=pk_not_a_key", data={"dataset": PROJET})
    assert refused.status_code == 401 and "PRJSECRET7" not in refused.text


@pytest.mark.parametrize("root", ["", "/interne"])
def test_a_multipart_sign_in_form_without_its_token_signs_nobody_in(site, root):
    """Another site's page posts the forger's credentials as multipart: refused as the
    URL-encoded form is, on both portals; the same form with the token still signs in."""
    browser = site.client()
    fields = {"login": (None, "ua"), "password": (None, PASSWORD)}
    forged = browser.post(f"{root}/login", files=fields, follow_redirects=False)
    assert forged.status_code == 403 and not _signed_in(forged)
    token = browser.get(f"{root}/login").cookies.get("portail_csrf")
    own = browser.post(f"{root}/login", files=fields, headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert own.status_code == 303 and _signed_in(own)


def test_a_multipart_api_call_without_a_session_is_still_answered_by_its_route(site):
    """No session, no ambient right: an API's multipart call is its route's to answer (401
    without credentials), not a CSRF refusal."""
    answer = site.client().post("/api/management/v1/datasets/x/data", files={"file": ("a.csv", b"a\n1\n")})
    assert answer.status_code == 401


# -- leaks found and fixed in api.explore_service -----------------------------------------------------------
def _next_cursor(body: dict) -> str:
    href = next(link["href"] for link in body["_links"] if link["rel"] == "next")
    return parse_qs(urlparse(href).query)["after"][0]


def test_a_cursor_on_a_replaced_version_keeps_the_renamed_field_hidden(site, tmp_path):
    """``after=`` walks the version it started on for a day after a newer one is published
    (``Dataset.walkable``), and that version is read with its own schema, minus the hidden
    fields as the ruleset names them now. A reload that renames the hidden column refuses the
    data until the rule names it again (``_records_access``); once it does, the former name is
    hidden in no version, and a walk begun before the reload read it in clear: it is told to
    start again (410), as when its version is no longer kept."""
    browser = site.client()
    first = browser.get(RECORDS, params={"after": "", "limit": 1}).json()
    assert "salaire" not in first["results"][0]
    cursor = _next_cursor(first)
    renamed = [dict(nom=r["nom"], remuneration=r["salaire"]) for r in SALARIES]
    operations.load_file(site.instance, PAIE, semicolon_csv(tmp_path / "v2.csv", renamed), publish=True)
    with site.instance.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, PAIE), hidden_fields={"*": ["remuneration"]})
    assert "remuneration" not in browser.get(RECORDS, params={"limit": 1}).text
    walked = browser.get(RECORDS, params={"after": cursor, "limit": 10})
    assert not [r for r in SALARIES[1:] if r["salaire"] in walked.text], walked.text
    assert (walked.status_code, walked.json()["error_code"]) == (410, "CursorExpired")
